"""One module per CDS service; each wires the engine for its hook."""
