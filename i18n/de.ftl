# Herald's own words in German. See en.ftl for what each message is for.

language-name = Deutsch
read-more = Weiterlesen
start =
    Hallo! Ich bringe neue Artikel in diesen Chat, sobald sie erscheinen.

    Sende { $p }subscribe, um sie hier zu erhalten, { $p }lang, um Sprachen zu wählen, { $p }latest für die neuesten.
help =
    Befehle:
    { $p }latest [n] — die neuesten Artikel (5, höchstens 10)
    { $p }lang — Sprachen zeigen oder wählen: { $p }lang de en, { $p }lang all
    { $p }subscribe — neue Artikel in diesem Chat erhalten
    { $p }unsubscribe — abbestellen und alles löschen, was ich über diesen Chat gespeichert habe
    { $p }about — was dieser Bot ist
    { $p }help — diese Liste
about = Herald { $version }: ein Bot, der neue Artikel ({ $count ->
        [one] eine Quelle
       *[other] { $count } Quellen
    }: { $feeds }) in Chats bringt, auf Telegram und Matrix.
latest-header = Neueste Artikel ({ $langs }):
latest-empty = Noch keine Artikel ({ $langs }).
lang-current =
    Dieser Chat erhält Artikel auf: { $langs }.
    Wähle mit { $p }lang und Sprachcodes, oder { $p }lang all:
lang-set = Erledigt: Dieser Chat erhält jetzt Artikel auf { $langs }.
lang-unknown = Es gibt keine Artikel auf „{ $code }“. Verfügbar: { $available }.
all-languages = allen Sprachen
subscribed = Abonniert: Neue Artikel ({ $langs }) kommen in diesen Chat.
already-subscribed = Dieser Chat ist bereits abonniert ({ $langs }).
unsubscribed = Abbestellt. Alles, was ich über diesen Chat gespeichert hatte, ist gelöscht.
not-subscribed = Dieser Chat war nicht abonniert. Über ihn ist nichts gespeichert.
configured-by-operators = Dieser Chat erhält Artikel, weil die Betreiber des Bots ihn so eingerichtet haben. Abbestellen ändert hier nichts; bitte wende dich an sie.
not-allowed = Entschuldigung, nur die Administratoren dieses Chats können seine Einstellungen ändern.
unknown-command = Den Befehl { $cmd } kenne ich nicht.
internal-error = Entschuldigung, bei mir ist etwas schiefgegangen. Bitte versuche es später noch einmal.

page-title = Herald-Status
page-summary = Version { $version }, läuft seit { $uptime }. Wartende Beiträge: { $queued }, zurückgestellt: { $aside }.
page-feeds = Quellen
page-feed = Quelle
page-last-read = Zuletzt gelesen
page-last-error = Letzter Fehler
page-next-poll = Nächster Abruf
page-never = nie
page-channels = Kanäle
page-channel = Kanal
page-state = Zustand
page-queued = Wartend
page-fine = in Ordnung
page-failing = gestört
page-feed-articles = Artikel
page-joining = tritt bei
page-retrying = neuer Versuch
page-refused = abgelehnt
page-subscribers = Private Abonnements: { $telegram } auf Telegram, { $matrix } auf Matrix.
page-articles = Neueste Artikel
page-article = Artikel
page-where = Wohin er ging
page-sent = gesendet
page-set-aside = zurückgestellt
page-private = { $count ->
        [one] ein privater Chat
       *[other] { $count } private Chats
    }

# Befehle für Betreiber im Chat (/status zeigt, was die Statusseite zeigt).
operators-only = Entschuldigung, dieser Befehl ist nur für die Betreiber des Bots.
operators-private-chat = Bitte frag mich das in einem privaten Chat.
too-fast = Die Befehle kommen schneller, als ich sie beantworte; ich antworte wieder in { $seconds } Sekunden.
