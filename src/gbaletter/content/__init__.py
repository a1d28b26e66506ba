"""Content: tagged posts (Markdown with YAML front matter) and brief items (YAML lists).

This layer knows files and their formats; it knows nothing of issues, email or subscribers.
"""

from .briefs import Brief, load_briefs
from .posts import Post, load_posts

__all__ = ["Brief", "Post", "load_briefs", "load_posts"]
