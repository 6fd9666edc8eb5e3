"""API keys, projects and scopes: who may call the service, and which project's objects they see."""
