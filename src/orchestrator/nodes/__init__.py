"""One module per stage of the incident graph; ``graph.py`` wires them."""
