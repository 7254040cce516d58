"""janusflow"""
