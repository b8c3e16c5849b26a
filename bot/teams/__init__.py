"""The Teams channel: an activity comes in, becomes an :class:`~dialogs.events.Event`, goes through
one engine turn, and its replies go back as Adaptive Cards.

==========================  ======================================================================
``bot/teams/adapter.py``    botbuilder's ``CloudAdapter`` and activity handler: checks, token,
                            turns, proactive posts (every botbuilder import is here, and only here)
``bot/teams/cards.py``      Adaptive Cards from core replies, core events from clicks and text
                            (plain JSON, no botbuilder)
``bot/teams/settings.py``   the Bot Framework settings from the environment
``bot/teams/package.py``    ``infoshare teams-package``: the app package (never imports botbuilder)
==========================  ======================================================================

This ``__init__`` imports nothing, so ``bot.teams.package`` can be used without botbuilder.

What happens to one request:

1. :meth:`adapter.TeamsChannel.handle <bot.teams.adapter.TeamsChannel.handle>` refuses bad input with a 4xx and changes nothing: a content type
   other than JSON (415), a body over :data:`bot.config.MAX_BODY` (413), malformed JSON, no
   activity ``type``, or an activity without a conversation or a usable ``serviceUrl`` (400).
2. The Bot Framework token is checked by ``ConfigurationBotFrameworkAuthentication``. With an
   app id configured, no token or a bad one is refused (401) before anything is stored. Without
   an app id, which :func:`adapter.from_env <bot.teams.adapter.from_env>` only allows with ``--dev`` on a loopback address, nothing is
   checked and replies may only go to a loopback ``serviceUrl``. The token signing keys are
   fetched by :class:`~bot.teams.adapter.SigningKeys` in the background (at start, then every six hours), never on a
   request: while they cannot be had, a request gets 503 at once.
3. ``CloudAdapter.process_activity`` runs the turn. A redelivered activity (same conversation
   and activity id) is seen once (:func:`dialogs.records.seen_event`) and ignored after.
   In a personal chat the activity becomes a core :class:`~dialogs.events.Event`, the engine
   answers, and the replies go back as Adaptive Cards; the card that shows where the walk is
   (question, outcome, record form, summary) is updated in place when it was clicked.
4. In a team channel or group chat the bot never discusses a case: it opens (or finds) the
   user's 1:1 chat with ``create_conversation`` (which needs the user's Teams id, AAD object id
   and tenant), continues there, and leaves only a short neutral note where it was mentioned.
5. Faults are handled in one place, :meth:`~bot.teams.adapter.TeamsChannel.on_turn_error`: the user gets an apology,
   the log gets the fault's type and code lines, never message text.
"""
