"""Read models: one projection class each, and the list of them all."""

from projections.base import Projection
from projections.calendar import CalendarProjection
from projections.clients import ClientsProjection
from projections.friends import FriendsProjection
from projections.inbox import InboxProjection
from projections.notices import NoticesProjection
from projections.recommendations import RecommendationsProjection
from projections.users import UsersProjection

PROJECTIONS: list[type[Projection]] = [
    UsersProjection,
    InboxProjection,
    ClientsProjection,
    CalendarProjection,
    FriendsProjection,
    RecommendationsProjection,
]
# fed apart from the read models, by the notifier's own feed (workers.notifier)
NOTIFIER_PROJECTIONS: list[type[Projection]] = [NoticesProjection]
