# Herald's own words in Russian. See en.ftl for what each message is for.
# Plural forms: [one] 1, 21, 31…; [few] 2–4, 22–24…; [many] 5–20, 25–30…

language-name = Русский
read-more = Читать дальше
start =
    Здравствуйте! Я приношу в этот чат новые статьи, как только они выходят.

    Отправьте { $p }subscribe, чтобы получать их здесь, { $p }lang, чтобы выбрать языки, { $p }latest, чтобы увидеть самые новые.
help =
    Команды:
    { $p }latest [n] — новейшие статьи (5, не больше 10)
    { $p }lang — показать или выбрать языки: { $p }lang de en, { $p }lang all
    { $p }subscribe — получать новые статьи в этом чате
    { $p }unsubscribe — отписаться и стереть всё, что я храню об этом чате
    { $p }about — что это за бот
    { $p }help — этот список
about = Herald { $version }: бот, который приносит новые статьи ({ $count ->
        [one] { $count } источник
        [few] { $count } источника
       *[many] { $count } источников
    }: { $feeds }) в чаты Telegram и Matrix.
latest-header = Новейшие статьи ({ $langs }):
latest-empty = Статей пока нет ({ $langs }).
lang-current =
    Этот чат получает статьи на языках: { $langs }.
    Выберите с помощью { $p }lang и кодов языков или { $p }lang all:
lang-set = Готово: теперь этот чат получает статьи на языках: { $langs }.
lang-unknown = Статей на языке «{ $code }» нет. Доступны: { $available }.
all-languages = все языки
subscribed = Подписка оформлена: новые статьи ({ $langs }) будут приходить в этот чат.
already-subscribed = Этот чат уже подписан ({ $langs }).
unsubscribed = Подписка отменена. Всё, что я хранил об этом чате, стёрто.
not-subscribed = Этот чат не был подписан. Ничего о нём не хранится.
configured-by-operators = Этот чат получает статьи, потому что так его настроили операторы бота. Отписка здесь ничего не меняет; пожалуйста, обратитесь к ним.
not-allowed = Извините, менять настройки этого чата могут только его администраторы.
unknown-command = Я не знаю команды { $cmd }.
internal-error = Извините, у меня что-то пошло не так. Попробуйте позже.

page-title = Состояние Herald
page-summary = Версия { $version }, работает { $uptime }. В очереди: { $queued }, отложено: { $aside }.
page-feeds = Ленты
page-feed = Лента
page-last-read = Последнее чтение
page-last-error = Последняя ошибка
page-next-poll = Следующий опрос
page-never = никогда
page-channels = Каналы
page-channel = Канал
page-state = Состояние
page-queued = В очереди
page-fine = в порядке
page-failing = сбой
page-feed-articles = Статей
page-joining = вступает
page-retrying = повтор
page-refused = отказано
page-subscribers = Личные подписки: { $telegram } в Telegram, { $matrix } в Matrix.
page-articles = Последние статьи
page-article = Статья
page-where = Куда отправлена
page-sent = отправлена
page-set-aside = отложена
page-private = { $count ->
        [one] { $count } личный чат
        [few] { $count } личных чата
       *[other] { $count } личных чатов
    }

# Команды операторов в чате (/status показывает то же, что страница состояния).
operators-only = Извините, эта команда только для операторов бота.
operators-private-chat = Пожалуйста, спросите меня об этом в личном чате.
too-fast = Команды приходят быстрее, чем я успеваю отвечать; я снова отвечу через { $seconds } с.
