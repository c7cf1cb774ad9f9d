"""closeloop's composition root: settings, the event store application, the command line."""
