"""voicectl talk: the duplex client (WebSocket protocol, playback, audio devices)."""
