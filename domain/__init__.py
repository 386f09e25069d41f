"""AquaLab's framework-free core: entities, rules and the ports the outer layers implement."""
