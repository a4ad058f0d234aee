# Herald's own words in Ukrainian. See en.ftl for what each message is for.
# Plural forms: [one] 1, 21, 31…; [few] 2–4, 22–24…; [many] 5–20, 25–30…

language-name = Українська
read-more = Читати далі
start =
    Вітаю! Я приношу в цей чат нові статті, щойно вони виходять.

    Надішліть { $p }subscribe, щоб отримувати їх тут, { $p }lang, щоб вибрати мови, { $p }latest, щоб побачити найновіші.
help =
    Команди:
    { $p }latest [n] — найновіші статті (5, не більше 10)
    { $p }lang — показати або вибрати мови: { $p }lang de en, { $p }lang all
    { $p }subscribe — отримувати нові статті в цьому чаті
    { $p }unsubscribe — відписатися й стерти все, що я зберігаю про цей чат
    { $p }about — що це за бот
    { $p }help — цей список
about = Herald { $version }: бот, який приносить нові статті ({ $count ->
        [one] { $count } джерело
        [few] { $count } джерела
       *[many] { $count } джерел
    }: { $feeds }) у чати Telegram і Matrix.
latest-header = Найновіші статті ({ $langs }):
latest-empty = Статей поки немає ({ $langs }).
lang-current =
    Цей чат отримує статті мовами: { $langs }.
    Оберіть за допомогою { $p }lang і кодів мов або { $p }lang all:
lang-set = Готово: тепер цей чат отримує статті мовами: { $langs }.
lang-unknown = Статей мовою «{ $code }» немає. Доступні: { $available }.
all-languages = усі мови
subscribed = Підписку оформлено: нові статті ({ $langs }) надходитимуть у цей чат.
already-subscribed = Цей чат уже підписано ({ $langs }).
unsubscribed = Підписку скасовано. Усе, що я зберігав про цей чат, стерто.
not-subscribed = Цей чат не був підписаний. Нічого про нього не зберігається.
configured-by-operators = Цей чат отримує статті, бо так його налаштували оператори бота. Відписка тут нічого не змінює; будь ласка, зверніться до них.
not-allowed = Вибачте, змінювати налаштування цього чату можуть лише його адміністратори.
unknown-command = Я не знаю команди { $cmd }.
internal-error = Вибачте, у мене щось пішло не так. Спробуйте пізніше.

page-title = Стан Herald
page-summary = Версія { $version }, працює { $uptime }. У черзі: { $queued }, відкладено: { $aside }.
page-feeds = Стрічки
page-feed = Стрічка
page-last-read = Останнє читання
page-last-error = Остання помилка
page-next-poll = Наступне опитування
page-never = ніколи
page-channels = Канали
page-channel = Канал
page-state = Стан
page-queued = У черзі
page-fine = гаразд
page-failing = збій
page-feed-articles = Статей
page-joining = приєднується
page-retrying = повтор
page-refused = відмовлено
page-subscribers = Особисті підписки: { $telegram } у Telegram, { $matrix } у Matrix.
page-articles = Останні статті
page-article = Стаття
page-where = Куди надіслано
page-sent = надіслано
page-set-aside = відкладено
page-private = { $count ->
        [one] { $count } особистий чат
        [few] { $count } особисті чати
       *[other] { $count } особистих чатів
    }

# Команди операторів у чаті (/status показує те саме, що сторінка стану).
operators-only = Вибачте, ця команда лише для операторів бота.
operators-private-chat = Будь ласка, запитайте мене про це в особистому чаті.
too-fast = Команди надходять швидше, ніж я встигаю відповідати; я знову відповім через { $seconds } с.
