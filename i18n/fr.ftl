# Herald's own words in French. See en.ftl for what each message is for.

language-name = Français
read-more = Lire la suite
start =
    Bonjour ! J’apporte les nouveaux articles dans ce chat dès leur publication.

    Envoyez { $p }subscribe pour les recevoir ici, { $p }lang pour choisir les langues, { $p }latest pour voir les plus récents.
help =
    Commandes :
    { $p }latest [n] — les articles les plus récents (5, au plus 10)
    { $p }lang — voir ou choisir les langues : { $p }lang de en, { $p }lang all
    { $p }subscribe — recevoir les nouveaux articles dans ce chat
    { $p }unsubscribe — arrêter, et effacer ce que j’ai gardé sur ce chat
    { $p }about — ce qu’est ce bot
    { $p }help — cette liste
about = Herald { $version } : un bot qui apporte les nouveaux articles ({ $count ->
        [one] une source
       *[other] { $count } sources
    } : { $feeds }) dans les chats, sur Telegram et Matrix.
latest-header = Articles les plus récents ({ $langs }) :
latest-empty = Pas encore d’articles ({ $langs }).
lang-current =
    Ce chat reçoit les articles en : { $langs }.
    Choisissez avec { $p }lang suivi des codes, ou { $p }lang all :
lang-set = C’est fait : ce chat reçoit désormais les articles en { $langs }.
lang-unknown = Il n’y a pas d’articles en « { $code } ». Disponibles : { $available }.
all-languages = toutes les langues
subscribed = Abonné : les nouveaux articles ({ $langs }) arriveront dans ce chat.
already-subscribed = Ce chat est déjà abonné ({ $langs }).
unsubscribed = Désabonné. Tout ce que j’avais gardé sur ce chat a été effacé.
not-subscribed = Ce chat n’était pas abonné. Rien n’est gardé à son sujet.
configured-by-operators = Ce chat reçoit les articles parce que les opérateurs du bot l’ont configuré ainsi. Se désabonner ici ne change rien ; adressez-vous à eux.
not-allowed = Désolé, seuls les administrateurs de ce chat peuvent modifier ses réglages.
unknown-command = Je ne connais pas la commande { $cmd }.
internal-error = Désolé, quelque chose s’est mal passé de mon côté. Réessayez plus tard.

page-title = État de Herald
page-summary = Version { $version }, en marche depuis { $uptime }. Messages en attente : { $queued }, mis de côté : { $aside }.
page-feeds = Flux
page-feed = Flux
page-last-read = Dernière lecture
page-last-error = Dernière erreur
page-next-poll = Prochaine lecture
page-never = jamais
page-channels = Canaux
page-channel = Canal
page-state = État
page-queued = En attente
page-fine = bien
page-failing = en échec
page-feed-articles = Nombre d’articles
page-joining = rejoint
page-retrying = nouvel essai
page-refused = refusé
page-subscribers = Abonnements privés : { $telegram } sur Telegram, { $matrix } sur Matrix.
page-articles = Derniers articles
page-article = Publication
page-where = Où il est allé
page-sent = envoyé
page-set-aside = mis de côté
page-private = { $count ->
        [one] une discussion privée
       *[other] { $count } discussions privées
    }

# Commandes des opérateurs dans le chat (/status montre ce que montre la page d’état).
operators-only = Désolé, cette commande est réservée aux opérateurs du bot.
operators-private-chat = Merci de me demander cela dans une conversation privée.
too-fast = Les commandes arrivent plus vite que je ne peux y répondre ; je répondrai de nouveau dans { $seconds } secondes.
