"""Accounts and profiles: User{id username displayName bio createdAt}, viewer, user, register, login, updateProfile."""
