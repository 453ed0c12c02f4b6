"""voicectl.orchestrator."""
