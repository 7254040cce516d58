"""params.yaml, typed: the bottom layer every package reads its configuration from (``settings.params``), one
module per section. It imports nothing of the project."""
