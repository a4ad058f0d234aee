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
subscribe-configured-by-operators = Цей чат отримує статті, бо так його налаштували оператори бота. Підписка тут нічого не змінює; будь ласка, зверніться до них.
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
help-operators =
    Для операторів:
    { $p }status — стан бота
    { $p }channels — куди бот публікує і як там справи
    { $p }addchannel ЧАТ [мови…] [стрічки…] — публікувати ще й в іншому чаті
    { $p }removechannel ЧАТ — припинити публікації в чаті, доданому тут
    { $p }pause [ЧАТ] — призупинити публікації (скрізь або в одному чаті); стрічки читаються далі
    { $p }resume [ЧАТ] — знову публікувати
    { $p }poll — прочитати всі стрічки зараз

# Команди операторів, що змінюють, куди бот публікує.
page-stalled = Потребує уваги
page-paused = призупинено
page-added = додано в чаті
channels-none = Каналів поки немає. Додайте канал командою { $p }addchannel.
channel-feeds-all = усі стрічки
channel-from-config = файл конфігурації
add-channel-usage = Напишіть { $p }addchannel і чат, потім мови та стрічки, якщо він має отримувати не все. Наприклад: { $p }addchannel telegram:@my_channel de en
bad-target = «{ $target }» — не адреса чату. Напишіть telegram:@channel, telegram:-100…, matrix:!room:server або matrix:#alias:server.
unknown-argument = «{ $arg }» — ні код мови, ні одна зі стрічок: { $feeds }.
no-platform = Цей бот не підключений до { $platform }.
channel-in-config = { $target } — канал із файлу конфігурації; змініть його там.
cannot-post = Я не можу публікувати в { $target }: { $reason }
channel-added = { $target } додано: отримує нові статті ({ $langs }) із { $feeds }.
channel-updated = { $target } змінено: отримує нові статті ({ $langs }) із { $feeds }.
remove-channel-usage = Напишіть { $p }removechannel і чат так, як його називає { $p }channels.
channel-remove-config = { $target } — канал із файлу конфігурації, його не можна видалити з чату. Видаліть його там і перезапустіть бота.
channel-removed = { $target } видалено. Публікації, що чекали на нього, відкинуто.
not-a-channel = { $target } — не один із каналів; { $p }channels покаже їх.
paused-one = Публікації в { $target } призупинено. Стрічки читаються далі; { $queued ->
        [one] чекає { $queued } публікація
        [few] чекають { $queued } публікації
       *[other] чекають { $queued } публікацій
    }. { $p }resume { $target } відновить їх.
paused-all = Публікації призупинено скрізь. Стрічки читаються далі; { $queued ->
        [one] чекає { $queued } публікація
        [few] чекають { $queued } публікації
       *[other] чекають { $queued } публікацій
    }. { $p }resume відновить їх.
resumed-one = Публікації в { $target } відновлено.
resumed-all = Публікації відновлено.
not-paused-one = { $target } не було призупинено.
not-paused-all = Публікації не було призупинено.
still-paused = Досі призупинені окремо: { $targets }.
poll-header = Усі стрічки прочитано зараз:
poll-new = { $new ->
        [one] { $new } нова стаття
        [few] { $new } нові статті
       *[other] { $new } нових статей
    }, { $queued ->
        [one] { $queued } публікація в черзі
        [few] { $queued } публікації в черзі
       *[other] { $queued } публікацій у черзі
    }
poll-unchanged = нічого нового
poll-failed = помилка: { $reason }
not-running = Зараз це неможливо: бот ще запускається. Спробуйте трохи згодом.
