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
subscribe-configured-by-operators = Ce chat reçoit les articles parce que les opérateurs du bot l’ont configuré ainsi. S’abonner ici ne change rien ; adressez-vous à eux.
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
help-operators =
    Pour les opérateurs :
    { $p }status — l'état du bot
    { $p }channels — où le bot publie, et comment cela se passe
    { $p }addchannel CHAT [langues…] [flux…] — publier aussi dans un autre chat
    { $p }removechannel CHAT — ne plus publier dans un chat ajouté ici
    { $p }pause [CHAT] — suspendre les publications (partout, ou dans un chat) ; les flux sont toujours lus
    { $p }resume [CHAT] — publier de nouveau
    { $p }poll — lire tous les flux maintenant

# Commandes des opérateurs qui changent où le bot publie.
page-stalled = À surveiller
page-paused = suspendu
page-added = ajouté depuis le chat
channels-none = Aucun canal pour l'instant. Ajoutez-en un avec { $p }addchannel.
channel-feeds-all = tous les flux
channel-from-config = fichier de configuration
add-channel-usage = Écrivez { $p }addchannel et le chat, puis les langues et les flux s'il ne doit pas tout recevoir. Par exemple : { $p }addchannel telegram:@mon_canal de en
bad-target = « { $target } » n'est pas une adresse de chat. Écrivez telegram:@canal, telegram:-100…, matrix:!salon:serveur ou matrix:#alias:serveur.
unknown-argument = « { $arg } » n'est ni un code de langue ni l'un des flux : { $feeds }.
no-platform = Ce bot n'est pas connecté à { $platform }.
channel-in-config = { $target } est un canal du fichier de configuration ; modifiez-le là.
cannot-post = Je ne peux pas publier dans { $target } : { $reason }
channel-added = { $target } ajouté : il reçoit les nouveaux articles ({ $langs }) de { $feeds }.
channel-updated = { $target } modifié : il reçoit les nouveaux articles ({ $langs }) de { $feeds }.
remove-channel-usage = Écrivez { $p }removechannel et le chat, tel que { $p }channels le nomme.
channel-remove-config = { $target } est un canal du fichier de configuration et ne peut pas être retiré depuis le chat. Retirez-le là et redémarrez le bot.
channel-removed = { $target } retiré. Les publications qui l'attendaient ont été abandonnées.
not-a-channel = { $target } n'est pas l'un des canaux ; { $p }channels les liste.
paused-one = Les publications dans { $target } sont suspendues. Les flux sont toujours lus ; { $queued ->
        [one] une publication attend
       *[other] { $queued } publications attendent
    }. { $p }resume { $target } les reprend.
paused-all = Les publications sont suspendues partout. Les flux sont toujours lus ; { $queued ->
        [one] une publication attend
       *[other] { $queued } publications attendent
    }. { $p }resume les reprend.
resumed-one = Les publications dans { $target } reprennent.
resumed-all = Les publications reprennent.
not-paused-one = { $target } n'était pas suspendu.
not-paused-all = Les publications n'étaient pas suspendues.
still-paused = Toujours suspendus individuellement : { $targets }.
poll-header = Tous les flux lus maintenant :
poll-new = { $new ->
        [one] un nouvel article
       *[other] { $new } nouveaux articles
    }, { $queued ->
        [one] une publication en file
       *[other] { $queued } publications en file
    }
poll-unchanged = rien de nouveau
poll-failed = échec : { $reason }
not-running = Je ne peux pas faire cela maintenant : le bot démarre encore. Réessayez dans un instant.
