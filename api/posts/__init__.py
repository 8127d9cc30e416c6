"""Posts: Post{id body createdAt author}, User.posts, post, createPost, deletePost."""
