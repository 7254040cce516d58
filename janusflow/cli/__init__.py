"""janusflow/cli"""
