/* fuzz_tg_update.c — a Telegram Update as the webhook or getUpdates gives it (JSON) into kabinet's event. */
#include "fuzz.h"
#include "tg_update.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int staff_set;
    if (!staff_set) { /* staff routing on, so that its branch is reached too */
        int64_t chat = -1001234567890LL;
        tg_update_set_staff(&chat, 1);
        staff_set = 1;
    }
    tg_update_t u;
    tg_update_parse((const char *)data, size, &u);
    tg_update_free(&u);
    return 0;
}
