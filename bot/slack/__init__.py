"""The Slack channel: a Slack event comes in, becomes an :class:`~dialogs.events.Event`, goes through
one engine turn (:meth:`Engine.handle <dialogs.engine.Engine.handle>`), and its replies go back as
Block Kit.

===========================  =====================================================================
``bot/slack/transport.py``   ``POST /slack/events``: slack_sdk's SignatureVerifier, Bolt's public
                             ``AsyncBoltRequest``, the parse check (401 and 400 before any listener)
``bot/slack/app.py``         the Bolt ``AsyncApp``: its listeners (each acknowledges, then runs one
                             engine turn), Socket Mode, the one error handler
``bot/slack/blocks.py``      Block Kit from core replies, core events from button values
``bot/slack/digest.py``      the weekly digest's post, and which channels it cannot reach
===========================  =====================================================================

The server (:mod:`bot.server`) mounts ``SlackChannel.handle`` from :func:`bot.slack.app.from_env`.
"""
