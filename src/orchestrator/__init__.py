"""The LangGraph incident graph and the scenario runner that drives it."""
