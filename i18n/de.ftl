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
subscribe-configured-by-operators = Dieser Chat erhält Artikel, weil die Betreiber des Bots ihn so eingerichtet haben. Abonnieren ändert hier nichts; bitte wende dich an sie.
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
help-operators =
    Für Betreiber:
    { $p }status — der Zustand des Bots
    { $p }channels — wo der Bot postet, und wie es dort läuft
    { $p }addchannel CHAT [Sprachen…] [Feeds…] — auch in einem anderen Chat posten
    { $p }removechannel CHAT — in einem hier hinzugefügten Chat nicht mehr posten
    { $p }pause [CHAT] — das Posten anhalten (überall oder in einem Chat); Feeds werden weiter gelesen
    { $p }resume [CHAT] — wieder posten
    { $p }poll — jetzt alle Feeds lesen

# Befehle für Betreiber, die ändern, wo der Bot postet.
page-stalled = Braucht Aufmerksamkeit
page-paused = angehalten
page-added = im Chat hinzugefügt
channels-none = Noch keine Kanäle. Füge einen mit { $p }addchannel hinzu.
channel-feeds-all = alle Feeds
channel-from-config = Konfigurationsdatei
add-channel-usage = Schreib { $p }addchannel und den Chat, dann Sprachen und Feeds, wenn er nicht alles erhalten soll. Zum Beispiel: { $p }addchannel telegram:@mein_kanal de en
bad-target = „{ $target }“ ist keine Chat-Adresse. Schreib telegram:@kanal, telegram:-100…, matrix:!raum:server oder matrix:#alias:server.
unknown-argument = „{ $arg }“ ist weder ein Sprachcode noch einer der Feeds: { $feeds }.
no-platform = Dieser Bot ist nicht mit { $platform } verbunden.
channel-in-config = { $target } ist ein Kanal der Konfigurationsdatei; ändere ihn dort.
cannot-post = Ich kann in { $target } nicht posten: { $reason }
channel-added = { $target } hinzugefügt: erhält neue Artikel auf { $langs } aus { $feeds }.
channel-updated = { $target } geändert: erhält neue Artikel auf { $langs } aus { $feeds }.
remove-channel-usage = Schreib { $p }removechannel und den Chat, so wie { $p }channels ihn nennt.
channel-remove-config = { $target } ist ein Kanal der Konfigurationsdatei und kann nicht im Chat entfernt werden. Entferne ihn dort und starte den Bot neu.
channel-removed = { $target } entfernt. Die Beiträge, die darauf warteten, wurden verworfen.
not-a-channel = { $target } ist keiner der Kanäle; { $p }channels zeigt sie.
paused-one = Das Posten in { $target } ist angehalten. Feeds werden weiter gelesen; { $queued ->
        [one] ein Beitrag wartet
       *[other] { $queued } Beiträge warten
    }. { $p }resume { $target } postet wieder.
paused-all = Das Posten ist überall angehalten. Feeds werden weiter gelesen; { $queued ->
        [one] ein Beitrag wartet
       *[other] { $queued } Beiträge warten
    }. { $p }resume postet wieder.
resumed-one = Das Posten in { $target } geht weiter.
resumed-all = Das Posten geht weiter.
not-paused-one = { $target } war nicht angehalten.
not-paused-all = Das Posten war nicht angehalten.
still-paused = Weiter einzeln angehalten: { $targets }.
poll-header = Alle Feeds jetzt gelesen:
poll-new = { $new ->
        [one] ein neuer Artikel
       *[other] { $new } neue Artikel
    }, { $queued ->
        [one] ein Beitrag eingereiht
       *[other] { $queued } Beiträge eingereiht
    }
poll-unchanged = nichts Neues
poll-failed = fehlgeschlagen: { $reason }
not-running = Das geht gerade nicht: der Bot startet noch. Bitte versuch es gleich noch einmal.
