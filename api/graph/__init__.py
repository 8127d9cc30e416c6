"""The follow graph: User{followerCount followingCount viewerFollows followers following}, follow, unfollow."""
