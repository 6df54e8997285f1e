"""Federated group decisions: proposals, ballots, closing and binding actions."""
