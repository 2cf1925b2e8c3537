"""Feed files (DESIGN §4.3): the control file, the data file reader and the inbox."""
