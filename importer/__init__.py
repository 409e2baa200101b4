"""The spreadsheet import (interfaces.md); the entry points are in importer.spreadsheet."""
