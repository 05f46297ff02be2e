"""What is up and how it is doing: the stack record, status collection and its rendering."""
