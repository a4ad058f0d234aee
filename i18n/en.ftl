# Herald's own words in English. Each message is used by the code under the same name
# (see src/i18n/mod.rs); translations keep every { $variable } of the English text.
# $p is the command prefix: "/" on Telegram, "!" on Matrix.

# This language's own name, for menus.
language-name = English
# The words of the link to an article.
read-more = Read more
# Welcome in a private chat.
start =
    Hello! I bring new articles into this chat as soon as they are published.

    Send { $p }subscribe to receive them here, { $p }lang to choose languages, { $p }latest to see the newest ones.
# The command list. Each line "{ $p }command … — what it does" also becomes an entry of
# the Telegram command menu, so keep that shape.
help =
    Commands:
    { $p }latest [n] — the newest articles (5, at most 10)
    { $p }lang — show or choose languages: { $p }lang de en, { $p }lang all
    { $p }subscribe — receive new articles in this chat
    { $p }unsubscribe — stop, and erase what I stored about this chat
    { $p }about — what this bot is
    { $p }help — this list
# $count is how many sources $feeds names.
about = Herald { $version }: a bot that carries new articles ({ $count ->
        [one] one source
       *[other] { $count } sources
    }: { $feeds }) into chats, on Telegram and Matrix.
latest-header = Latest articles ({ $langs }):
latest-empty = No articles yet ({ $langs }).
lang-current =
    This chat receives articles in: { $langs }.
    Choose with { $p }lang followed by codes, or { $p }lang all:
lang-set = Done: this chat now receives articles in { $langs }.
lang-unknown = There are no articles in “{ $code }”. Available: { $available }.
all-languages = all languages
subscribed = Subscribed: new articles ({ $langs }) will arrive in this chat.
already-subscribed = This chat is already subscribed ({ $langs }).
unsubscribed = Unsubscribed. Everything I stored about this chat has been erased.
not-subscribed = This chat was not subscribed. Nothing about it is stored.
configured-by-operators = This chat receives articles because the bot's operators set it up to. Unsubscribing here changes nothing; please ask them.
subscribe-configured-by-operators = This chat receives articles because the bot's operators set it up to. Subscribing here changes nothing; please ask them.
not-allowed = Sorry, only the administrators of this chat can change its settings.
unknown-command = I don't know the command { $cmd }.
internal-error = Sorry, something went wrong on my side. Please try again later.

# The status page operators open in a browser ([ops] listen, GET /).
page-title = Herald status
page-summary = Version { $version }, running for { $uptime }. Posts queued: { $queued }, set aside: { $aside }.
page-feeds = Feeds
page-feed = Feed
page-last-read = Last read
page-last-error = Last error
page-next-poll = Next poll
page-never = never
page-channels = Channels
page-channel = Channel
page-state = State
page-queued = Queued
page-fine = fine
page-failing = failing
page-feed-articles = Articles
page-joining = joining
page-retrying = retrying
page-refused = refused
page-subscribers = Private subscribers: { $telegram } on Telegram, { $matrix } on Matrix.
page-articles = Latest articles
page-article = Article
page-where = Where it went
page-sent = sent
page-set-aside = set aside
page-private = { $count ->
        [one] one private chat
       *[other] { $count } private chats
    }

# Operators' commands in chat (/status shows what the status page shows).
operators-only = Sorry, this command is only for the bot's operators.
operators-private-chat = Please ask me this in a private chat.
# Said once to a chat that sends commands too fast; then it is not answered for a while.
too-fast = Commands are coming faster than I answer them; I will answer again in { $seconds } seconds.
# Shown to operators under the command list.
help-operators =
    For operators:
    { $p }status — the bot's state
    { $p }channels — where the bot posts, and how that goes
    { $p }addchannel CHAT [languages…] [feeds…] — post in another chat too
    { $p }removechannel CHAT — stop posting in a chat added here
    { $p }pause [CHAT] — stop posting (everywhere, or in one chat); feeds are still read
    { $p }resume [CHAT] — post again
    { $p }poll — read every feed now

# Operators' commands that change where the bot posts.
page-stalled = Needs attention
page-paused = paused
page-added = added from chat
channels-none = No channels yet. Add one with { $p }addchannel.
channel-feeds-all = all feeds
channel-from-config = configuration file
add-channel-usage = Write { $p }addchannel and the chat, then languages and feeds if it should not receive everything. For example: { $p }addchannel telegram:@my_channel de en
bad-target = “{ $target }” is not a chat address. Write telegram:@channel, telegram:-100…, matrix:!room:server or matrix:#alias:server.
unknown-argument = “{ $arg }” is neither a language code nor one of the feeds: { $feeds }.
no-platform = This bot is not connected to { $platform }.
channel-in-config = { $target } is a channel of the configuration file; change it there.
cannot-post = I cannot post in { $target }: { $reason }
channel-added = Added { $target }: it receives new articles in { $langs } from { $feeds }.
channel-updated = Changed { $target }: it receives new articles in { $langs } from { $feeds }.
remove-channel-usage = Write { $p }removechannel and the chat, as { $p }channels lists it.
channel-remove-config = { $target } is a channel of the configuration file and cannot be removed from chat. Remove it there and restart the bot.
channel-removed = Removed { $target }. The posts that waited for it were dropped.
not-a-channel = { $target } is not one of the channels; { $p }channels lists them.
paused-one = Posting in { $target } is paused. Feeds are still read; { $queued ->
        [one] one post waits
       *[other] { $queued } posts wait
    }. { $p }resume { $target } posts again.
paused-all = Posting is paused everywhere. Feeds are still read; { $queued ->
        [one] one post waits
       *[other] { $queued } posts wait
    }. { $p }resume posts again.
resumed-one = Posting in { $target } resumed.
resumed-all = Posting resumed.
not-paused-one = { $target } was not paused.
not-paused-all = Posting was not paused.
still-paused = Still paused on their own: { $targets }.
poll-header = Every feed read now:
poll-new = { $new ->
        [one] one new article
       *[other] { $new } new articles
    }, { $queued ->
        [one] one post queued
       *[other] { $queued } posts queued
    }
poll-unchanged = nothing new
poll-failed = failed: { $reason }
not-running = I cannot do that right now: the bot is still starting. Please try again in a moment.
