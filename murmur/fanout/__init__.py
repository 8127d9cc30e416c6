"""How a post reaches followers: push, pull and hybrid behind one interface.

Every post gets a delivery mode when it is written: PUSHED posts are copied into
each follower's materialised timeline by the workers, PULLED posts are merged in
when a follower reads. Push pushes everything, pull pulls everything, hybrid
pulls the posts of authors with more followers than a threshold. The rest — what
a follow, unfollow or delete does to materialised timelines — is shared
(delivery.py), and so is the cap and the cursor (feed.py).
"""
