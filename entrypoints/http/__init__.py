"""The Falcon (WSGI) transport: thin resources that parse, call a use case, render."""
