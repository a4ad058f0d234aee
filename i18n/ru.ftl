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
subscribe-configured-by-operators = Этот чат получает статьи, потому что так его настроили операторы бота. Подписка здесь ничего не меняет; пожалуйста, обратитесь к ним.
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
help-operators =
    Для операторов:
    { $p }status — состояние бота
    { $p }channels — куда бот публикует и как идут дела
    { $p }addchannel ЧАТ [языки…] [ленты…] — публиковать ещё и в другом чате
    { $p }removechannel ЧАТ — перестать публиковать в чате, добавленном здесь
    { $p }pause [ЧАТ] — остановить публикации (везде или в одном чате); ленты читаются дальше
    { $p }resume [ЧАТ] — снова публиковать
    { $p }poll — прочитать все ленты сейчас

# Команды операторов, меняющие, куда бот публикует.
page-stalled = Требует внимания
page-paused = на паузе
page-added = добавлен в чате
channels-none = Каналов пока нет. Добавьте канал командой { $p }addchannel.
channel-feeds-all = все ленты
channel-from-config = файл конфигурации
add-channel-usage = Напишите { $p }addchannel и чат, затем языки и ленты, если он должен получать не всё. Например: { $p }addchannel telegram:@my_channel de en
bad-target = «{ $target }» — не адрес чата. Напишите telegram:@channel, telegram:-100…, matrix:!room:server или matrix:#alias:server.
unknown-argument = «{ $arg }» — ни код языка, ни одна из лент: { $feeds }.
no-platform = Этот бот не подключён к { $platform }.
channel-in-config = { $target } — канал из файла конфигурации; измените его там.
cannot-post = Я не могу публиковать в { $target }: { $reason }
channel-added = { $target } добавлен: получает новые статьи ({ $langs }) из { $feeds }.
channel-updated = { $target } изменён: получает новые статьи ({ $langs }) из { $feeds }.
remove-channel-usage = Напишите { $p }removechannel и чат так, как его называет { $p }channels.
channel-remove-config = { $target } — канал из файла конфигурации, его нельзя удалить из чата. Удалите его там и перезапустите бота.
channel-removed = { $target } удалён. Публикации, ожидавшие его, отброшены.
not-a-channel = { $target } — не один из каналов; { $p }channels покажет их.
paused-one = Публикации в { $target } приостановлены. Ленты читаются дальше; { $queued ->
        [one] ждёт { $queued } публикация
        [few] ждут { $queued } публикации
       *[other] ждут { $queued } публикаций
    }. { $p }resume { $target } возобновит их.
paused-all = Публикации приостановлены везде. Ленты читаются дальше; { $queued ->
        [one] ждёт { $queued } публикация
        [few] ждут { $queued } публикации
       *[other] ждут { $queued } публикаций
    }. { $p }resume возобновит их.
resumed-one = Публикации в { $target } возобновлены.
resumed-all = Публикации возобновлены.
not-paused-one = { $target } не был на паузе.
not-paused-all = Публикации не были приостановлены.
still-paused = По-прежнему на паузе по отдельности: { $targets }.
poll-header = Все ленты прочитаны сейчас:
poll-new = { $new ->
        [one] { $new } новая статья
        [few] { $new } новые статьи
       *[other] { $new } новых статей
    }, { $queued ->
        [one] { $queued } публикация в очереди
        [few] { $queued } публикации в очереди
       *[other] { $queued } публикаций в очереди
    }
poll-unchanged = ничего нового
poll-failed = ошибка: { $reason }
not-running = Сейчас это невозможно: бот ещё запускается. Попробуйте чуть позже.
