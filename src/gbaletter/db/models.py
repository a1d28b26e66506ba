"""Every model of the application, imported in one place so `Base.metadata` is complete.

Alembic compares this metadata with the database to write migrations; a new area that stores rows
adds its models module here.
"""

from ..delivery.models import Delivery, Send
from ..feedback.models import FeedbackEvent
from ..subscribers.models import (Segment, Status, Subscriber, SubscriberEvent, Suppression, Tag,
                                  subscriber_tags)
from .base import Base

__all__ = ["Base", "Delivery", "FeedbackEvent", "Send", "Segment", "Status", "Subscriber", "SubscriberEvent", "Suppression", "Tag",
           "subscriber_tags"]
