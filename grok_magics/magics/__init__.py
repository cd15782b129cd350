"""The only IPython layer: parsing the magic line, dispatching subcommands, settings as traitlets, reports."""
