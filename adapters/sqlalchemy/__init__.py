"""PostgreSQL adapters: SQLAlchemy 2 Core tables, imperative ORM mapping, psycopg 3 driver."""
