"""voicectl: a realtime duplex speech-to-speech voice stack driven from one CLI."""

__version__ = "0.1.0"
