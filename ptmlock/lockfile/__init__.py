"""lockfile"""
