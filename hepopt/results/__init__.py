"""What a run leaves for people: files, tables and plots."""
