/* Every function of the C API: the happy path, NULL arguments, invalid
 * UTF-8, zero-length and too-small buffers, out-of-range codes, outputs left
 * unchanged on error, a wrong key, and two threads on one store.
 *
 * Usage: test_api <empty-directory>
 * Driven by tests/c_abi.rs, also under valgrind and with ASan/UBSan. */
#include "custodian.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int checks = 0;
static int failures = 0;

#define CHECK(cond)                                                            \
    do {                                                                       \
        checks++;                                                              \
        if (!(cond)) {                                                         \
            failures++;                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
        }                                                                      \
    } while (0)

#define CHECK_STATUS(call, want)                                               \
    do {                                                                       \
        cust_status got_ = (call);                                             \
        checks++;                                                              \
        if (got_ != (want)) {                                                  \
            char msg_[512];                                                    \
            cust_last_error(msg_, sizeof msg_, NULL);                          \
            failures++;                                                        \
            fprintf(stderr, "%s:%d: %s returned %u (%s), wanted %u: %s\n",     \
                    __FILE__, __LINE__, #call, (unsigned)got_,                 \
                    cust_status_str(got_), (unsigned)(want), msg_);            \
        }                                                                      \
    } while (0)

#define OK(call) CHECK_STATUS(call, CUST_STATUS_OK)

static const uint8_t KEY[32] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
static const uint8_t WRONG_KEY[32] = {8};
static const char BAD_UTF8[] = {'\xff', '\xfe', 'a', 0};
/* A sentinel every failed call must leave in its output. */
#define SENTINEL ((void *)0x5e17)

/* This thread's last error message (a static copy). */
static const char *last_error(void) {
    static char message[1024];
    if (cust_last_error(message, sizeof message, NULL) != CUST_STATUS_OK && message[0] == 0) {
        return "";
    }
    return message;
}

static void path_in(char *out, size_t len, const char *dir, const char *name) {
    snprintf(out, len, "%s/%s", dir, name);
}

static void test_basics(void) {
    char buf[64];
    size_t needed = 0;
    CHECK(strcmp(cust_version(), CUST_VERSION_STRING) == 0);
    CHECK(strcmp(cust_status_str(CUST_STATUS_OK), "ok") == 0);
    CHECK(strcmp(cust_status_str(CUST_STATUS_DENIED), "access denied") == 0);
    CHECK(strcmp(cust_status_str(9999), "unknown status") == 0);
    CHECK(strcmp(cust_status_str(CUST_STATUS_NULL_ARGUMENT), "a required argument was NULL") == 0);

    /* The last error: a size query with len 0, a short buffer, a full copy. */
    CHECK_STATUS(cust_input_new(0, NULL), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_last_error(NULL, 0, &needed), CUST_STATUS_BUFFER_TOO_SMALL);
    CHECK(needed == strlen("argument 'out' is NULL") + 1);
    /* A size query with a real buffer and len 0 writes nothing into it. */
    memset(buf, 'x', sizeof buf);
    needed = 0;
    CHECK_STATUS(cust_last_error(buf, 0, &needed), CUST_STATUS_BUFFER_TOO_SMALL);
    CHECK(needed == strlen("argument 'out' is NULL") + 1 && buf[0] == 'x');
    CHECK_STATUS(cust_last_error(buf, 5, &needed), CUST_STATUS_BUFFER_TOO_SMALL);
    CHECK(strcmp(buf, "argu") == 0);
    OK(cust_last_error(buf, sizeof buf, NULL));
    CHECK(strcmp(buf, "argument 'out' is NULL") == 0);
    CHECK_STATUS(cust_last_error(NULL, 10, NULL), CUST_STATUS_NULL_ARGUMENT);

    /* Out-of-range codes. */
    cust_input *input = SENTINEL;
    CHECK_STATUS(cust_input_new(7, &input), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(input == SENTINEL);
    OK(cust_input_new(CUST_KIND_INDIVIDUAL, &input));
    CHECK_STATUS(cust_input_set(input, 999, "x"), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_input_set(input, CUST_FIELD_NAME, BAD_UTF8), CUST_STATUS_INVALID_UTF8);
    CHECK_STATUS(cust_input_set(NULL, CUST_FIELD_NAME, "x"), CUST_STATUS_NULL_ARGUMENT);
    cust_input_free(input);
    cust_input_free(NULL);

    /* cust_memzero and the free functions accept NULL. */
    char secret[8] = "secret!";
    cust_memzero((uint8_t *)secret, sizeof secret);
    CHECK(secret[0] == 0 && secret[6] == 0);
    cust_memzero(NULL, 4);
    cust_string_free(NULL);
    cust_bytes_free(NULL, 0);
    cust_store_close(NULL);
    cust_session_close(NULL);
    cust_customer_free(NULL);
    cust_list_free(NULL);
    cust_import_report_free(NULL);
    CHECK(cust_customer_id(NULL) == 0 && cust_customer_version(NULL) == 0);
    CHECK(cust_list_len(NULL) == 0 && cust_list_total(NULL) == 0);
    CHECK(cust_import_report_len(NULL) == 0);
}

static void test_store_lifecycle(const char *dir) {
    char path[512], other[512];
    cust_store *store = SENTINEL;
    path_in(path, sizeof path, dir, "lifecycle");
    path_in(other, sizeof other, dir, "pass");

    CHECK_STATUS(cust_store_create(NULL, KEY, 32, &store), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_store_create(path, NULL, 32, &store), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_store_create(path, KEY, 0, &store), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_store_create(path, KEY, 31, &store), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_store_create(BAD_UTF8, KEY, 32, &store), CUST_STATUS_INVALID_UTF8);
    CHECK_STATUS(cust_store_create(path, KEY, 32, NULL), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_store_open(path, KEY, 32, &store), CUST_STATUS_NOT_A_STORE);
    CHECK(store == SENTINEL);

    OK(cust_store_create(path, KEY, 32, &store));
    CHECK(store != SENTINEL && store != NULL);
    cust_store *again = SENTINEL;
    CHECK_STATUS(cust_store_create(path, KEY, 32, &again), CUST_STATUS_ALREADY_EXISTS);
    CHECK(again == SENTINEL);
    cust_store_close(store);

    store = SENTINEL;
    CHECK_STATUS(cust_store_open(path, WRONG_KEY, 32, &store), CUST_STATUS_WRONG_KEY);
    CHECK(store == SENTINEL);
    char msg[256];
    OK(cust_last_error(msg, sizeof msg, NULL));
    CHECK(strstr(msg, "wrong master key") != NULL);
    OK(cust_store_open(path, KEY, 32, &store));
    uint64_t entries = 0;
    OK(cust_store_verify_audit(store, NULL, &entries));
    char *checkpoint = SENTINEL;
    OK(cust_store_checkpoint(store, &checkpoint));
    CHECK(checkpoint != SENTINEL && strstr(checkpoint, "custodian") != NULL);
    OK(cust_store_verify_audit(store, checkpoint, NULL));
    CHECK_STATUS(cust_store_verify_audit(store, "not a checkpoint", NULL), CUST_STATUS_INVALID);
    OK(cust_store_last_error(store, msg, sizeof msg, NULL));
    CHECK(strstr(msg, "checkpoint") != NULL);
    CHECK_STATUS(cust_store_last_error(NULL, msg, sizeof msg, NULL), CUST_STATUS_NULL_ARGUMENT);
    cust_string_free(checkpoint);
    CHECK_STATUS(cust_store_checkpoint(store, NULL), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_store_verify_audit(NULL, NULL, NULL), CUST_STATUS_NULL_ARGUMENT);
    cust_store_close(store);

    /* A passphrase store (the lowest iteration count accepted keeps the test fast). */
    store = SENTINEL;
    CHECK_STATUS(cust_store_create_passphrase(other, "short", 100000, &store), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_store_create_passphrase(other, NULL, 100000, &store), CUST_STATUS_NULL_ARGUMENT);
    /* The KDF floor the header states: 100,000 iterations. */
    CHECK_STATUS(cust_store_create_passphrase(other, "a long passphrase 2026", 99999, &store), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(store == SENTINEL);
    OK(cust_store_create_passphrase(other, "a long passphrase 2026", 100000, &store));
    cust_store_close(store);
    store = SENTINEL;
    CHECK_STATUS(cust_store_open_passphrase(other, "another long passphrase", &store), CUST_STATUS_WRONG_KEY);
    CHECK(store == SENTINEL);
    OK(cust_store_open_passphrase(other, "a long passphrase 2026", &store));
    cust_store_close(store);
}

/* Opens a fresh store with an administrator, a clerk and a marketer. */
static cust_store *provisioned(const char *dir, const char *name) {
    char path[512];
    cust_store *store = NULL;
    cust_session *admin = NULL;
    path_in(path, sizeof path, dir, name);
    OK(cust_store_create(path, KEY, 32, &store));
    OK(cust_store_set_login_policy(store, 3, 600, 100000));
    CHECK_STATUS(cust_store_bootstrap_admin(store, NULL, "x"), CUST_STATUS_NULL_ARGUMENT);
    OK(cust_store_bootstrap_admin(store, "admin", "Administrator"));
    CHECK_STATUS(cust_store_bootstrap_admin(store, "second", "x"), CUST_STATUS_DENIED);
    OK(cust_session_open(store, "admin", "maintenance", true, 0, &admin));
    OK(cust_principal_register(admin, "clerk", "李娜", false));
    OK(cust_principal_grant(admin, "clerk", "customer_service", 0));
    OK(cust_principal_register(admin, "marketer", "陈晨", false));
    OK(cust_principal_grant(admin, "marketer", "marketing", 0));
    cust_session_close(admin);
    CHECK_STATUS(cust_store_set_login_policy(store, 3, 600, 100000), CUST_STATUS_OK);
    return store;
}

static cust_input *person(const char *code, const char *name, const char *mobile) {
    cust_input *input = NULL;
    OK(cust_input_new(CUST_KIND_INDIVIDUAL, &input));
    OK(cust_input_set(input, CUST_FIELD_EXTERNAL_CODE, code));
    OK(cust_input_set(input, CUST_FIELD_NAME, name));
    OK(cust_input_set(input, CUST_FIELD_MOBILE, mobile));
    return input;
}

static void test_customers(const char *dir) {
    cust_store *store = provisioned(dir, "customers");
    cust_session *admin = NULL, *clerk = SENTINEL;
    char text[512];
    size_t needed = 0;
    uint32_t shown = 99;

    CHECK_STATUS(cust_session_open(store, "ghost", "service", false, 0, &clerk), CUST_STATUS_DENIED);
    CHECK_STATUS(cust_session_open(store, "clerk", "no such purpose!", false, 0, &clerk), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_session_open(store, BAD_UTF8, "service", false, 0, &clerk), CUST_STATUS_INVALID_UTF8);
    CHECK_STATUS(cust_session_open(NULL, "clerk", "service", false, 0, &clerk), CUST_STATUS_NULL_ARGUMENT);
    CHECK(clerk == SENTINEL);
    OK(cust_session_open(store, "clerk", "service", false, 0, &clerk));
    OK(cust_session_open(store, "admin", "service", true, 1700000000000, &admin));
    bool mfa = false;
    OK(cust_session_mfa(admin, &mfa));
    CHECK(mfa);
    CHECK_STATUS(cust_session_mfa(admin, NULL), CUST_STATUS_NULL_ARGUMENT);

    /* Create: a bad mobile is refused with the field and rule, nothing stored. */
    cust_input *bad = person("KH001", "王五", "12345");
    cust_customer *customer = SENTINEL;
    CHECK_STATUS(cust_customer_create(clerk, bad, &customer), CUST_STATUS_INVALID);
    CHECK(customer == SENTINEL);
    OK(cust_session_last_error(clerk, text, sizeof text, NULL));
    CHECK(strstr(text, "mobile") != NULL && strstr(text, "12345") == NULL);
    cust_input_free(bad);
    CHECK_STATUS(cust_customer_create(clerk, NULL, &customer), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_customer_create(NULL, NULL, &customer), CUST_STATUS_NULL_ARGUMENT);

    cust_input *input = person("KH001", "王五", "+86 138-1234-5678");
    OK(cust_input_set(input, CUST_FIELD_ID_NUMBER, "11010519491231002X"));
    OK(cust_input_set(input, CUST_FIELD_EMAIL, "Wang.Wu@Example.com"));
    CHECK_STATUS(cust_customer_create(clerk, input, NULL), CUST_STATUS_NULL_ARGUMENT);
    OK(cust_customer_create(clerk, input, &customer));
    cust_input_free(input);
    int64_t id = cust_customer_id(customer);
    CHECK(id > 0 && cust_customer_version(customer) == 1);

    /* Typed accessors: plain, masked, absent; buffers too small or empty. */
    OK(cust_customer_field(customer, CUST_FIELD_NAME, text, sizeof text, &needed, &shown));
    CHECK(strcmp(text, "王五") == 0 && shown == CUST_SHOWN_PLAIN && needed == strlen("王五") + 1);
    OK(cust_customer_field(customer, CUST_FIELD_MOBILE, text, sizeof text, NULL, NULL));
    CHECK(strcmp(text, "13812345678") == 0);
    OK(cust_customer_field(customer, CUST_FIELD_ID_NUMBER, text, sizeof text, NULL, &shown));
    CHECK(strcmp(text, "1101**********002X") == 0 && shown == CUST_SHOWN_MASKED);
    OK(cust_customer_field(customer, CUST_FIELD_ADDRESS, text, sizeof text, NULL, &shown));
    CHECK(text[0] == 0 && shown == CUST_SHOWN_ABSENT);
    CHECK_STATUS(cust_customer_field(customer, CUST_FIELD_EMAIL, text, 4, &needed, NULL), CUST_STATUS_BUFFER_TOO_SMALL);
    CHECK(needed == strlen("wang.wu@example.com") + 1 && strlen(text) == 3);
    CHECK_STATUS(cust_customer_field(customer, CUST_FIELD_EMAIL, NULL, 0, &needed, NULL), CUST_STATUS_BUFFER_TOO_SMALL);
    CHECK_STATUS(cust_customer_field(customer, 12345, text, sizeof text, NULL, NULL), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_customer_field(NULL, CUST_FIELD_NAME, text, sizeof text, NULL, NULL), CUST_STATUS_NULL_ARGUMENT);
    char *json = SENTINEL;
    OK(cust_customer_to_json(customer, &json));
    CHECK(strstr(json, "\"name\":\"王五\"") != NULL && strstr(json, "\"masked\":[") != NULL);
    cust_string_free(json);
    CHECK_STATUS(cust_customer_to_json(customer, NULL), CUST_STATUS_NULL_ARGUMENT);
    cust_customer_free(customer);

    /* Reads, lookups, listing and search. */
    OK(cust_customer_get(admin, id, &customer));
    OK(cust_customer_field(customer, CUST_FIELD_ID_NUMBER, text, sizeof text, NULL, &shown));
    CHECK(strcmp(text, "11010519491231002X") == 0 && shown == CUST_SHOWN_PLAIN);
    cust_customer_free(customer);
    customer = SENTINEL;
    CHECK_STATUS(cust_customer_get(clerk, 424242, &customer), CUST_STATUS_NOT_FOUND);
    CHECK_STATUS(cust_customer_get_by_code(clerk, "NOPE", &customer), CUST_STATUS_CODE_NOT_FOUND);
    CHECK_STATUS(cust_customer_get_by_code(clerk, BAD_UTF8, &customer), CUST_STATUS_INVALID_UTF8);
    CHECK(customer == SENTINEL);
    OK(cust_customer_get_by_code(clerk, "KH001", &customer));
    CHECK(cust_customer_id(customer) == id);
    cust_customer_free(customer);

    OK(cust_customer_create_json(clerk, "{\"fields\":{\"external_code\":\"KH002\",\"name\":\"李四\",\"mobile\":\"13900000002\"}}", &customer));
    cust_customer_free(customer);
    customer = SENTINEL;
    CHECK_STATUS(cust_customer_create_json(clerk, "{\"fields\":{\"no_such_field\":\"x\"}}", &customer), CUST_STATUS_UNKNOWN_FIELD);
    CHECK_STATUS(cust_customer_create_json(clerk, "[1,2", &customer), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_customer_create_json(clerk, "{\"kind\":\"robot\",\"fields\":{}}", &customer), CUST_STATUS_INVALID);
    CHECK(customer == SENTINEL);

    cust_list *list = SENTINEL;
    CHECK_STATUS(cust_customer_find(clerk, CUST_FIELD_NAME, "王五", &list), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_customer_find(clerk, CUST_FIELD_MOBILE, "' OR 1=1 --", &list), CUST_STATUS_INVALID);
    CHECK(list == SENTINEL);
    OK(cust_customer_find(clerk, CUST_FIELD_MOBILE, "138 1234 5678", &list));
    CHECK(cust_list_len(list) == 1);
    cust_list_free(list);
    OK(cust_customer_list(clerk, CUST_FIELD_NAME, false, 0, 10, &list));
    CHECK(cust_list_len(list) == 2 && cust_list_total(list) == 2);
    const cust_customer *first = NULL;
    OK(cust_list_get(list, 0, &first));
    OK(cust_customer_field(first, CUST_FIELD_NAME, text, sizeof text, NULL, NULL));
    CHECK(strcmp(text, "李四") == 0); /* 李四 sorts before 张三 */ /* pinyin: li before wang */
    const cust_customer *past = SENTINEL;
    CHECK_STATUS(cust_list_get(list, 2, &past), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(past == SENTINEL);
    CHECK_STATUS(cust_list_get(list, 0, NULL), CUST_STATUS_NULL_ARGUMENT);
    cust_list_free(list);
    CHECK_STATUS(cust_customer_list(clerk, CUST_FIELD_NAME, true, 0, 0, &list), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_customer_list(clerk, 77, true, 0, 10, &list), CUST_STATUS_INVALID_ARGUMENT);
    OK(cust_customer_list(clerk, CUST_FIELD_NAME, true, 0, 10, &list));
    OK(cust_list_get(list, 0, &first));
    OK(cust_customer_field(first, CUST_FIELD_NAME, text, sizeof text, NULL, NULL));
    CHECK(strcmp(text, "王五") == 0);
    cust_list_free(list);
    /* Filtered by classification attributes (NULL: any). */
    OK(cust_customer_list_filtered(clerk, CUST_FIELD_NAME, false, 0, 10, "individual", NULL, NULL, NULL, &list));
    CHECK(cust_list_total(list) == 2);
    cust_list_free(list);
    OK(cust_customer_list_filtered(clerk, CUST_FIELD_NAME, false, 0, 10, "organisation", NULL, NULL, NULL, &list));
    CHECK(cust_list_total(list) == 0 && cust_list_len(list) == 0);
    cust_list_free(list);
    OK(cust_customer_list_filtered(clerk, CUST_FIELD_NAME, false, 0, 10, NULL, "no such category", NULL, NULL, &list));
    CHECK(cust_list_total(list) == 0);
    cust_list_free(list);
    CHECK_STATUS(cust_customer_list_filtered(clerk, CUST_FIELD_NAME, false, 0, 10, NULL, NULL, NULL, NULL, NULL),
                 CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_customer_list_filtered(clerk, CUST_FIELD_NAME, false, 0, 10, BAD_UTF8, NULL, NULL, NULL, &list),
                 CUST_STATUS_INVALID_UTF8);
    OK(cust_customer_search(clerk, "李", 0, 10, &list));
    CHECK(cust_list_len(list) == 1);
    cust_list_free(list);
    CHECK_STATUS(cust_customer_search(clerk, "", 0, 10, &list), CUST_STATUS_INVALID);

    /* Update with a version; a stale version is refused and changes nothing. */
    cust_input *patch = NULL;
    OK(cust_input_new(CUST_KIND_INDIVIDUAL, &patch));
    OK(cust_input_set(patch, CUST_FIELD_TITLE, "经理"));
    OK(cust_input_set(patch, CUST_FIELD_EMAIL, NULL)); /* clear */
    OK(cust_customer_update(clerk, id, 1, patch, &customer));
    CHECK(cust_customer_version(customer) == 2);
    OK(cust_customer_field(customer, CUST_FIELD_EMAIL, text, sizeof text, NULL, &shown));
    CHECK(shown == CUST_SHOWN_ABSENT);
    cust_customer_free(customer);
    customer = SENTINEL;
    CHECK_STATUS(cust_customer_update(clerk, id, 1, patch, &customer), CUST_STATUS_VERSION_CONFLICT);
    CHECK(customer == SENTINEL);
    OK(cust_session_last_error(clerk, text, sizeof text, NULL));
    CHECK(strstr(text, "expected version 1, current version 2") != NULL);
    CHECK_STATUS(cust_customer_update(clerk, id, 2, NULL, &customer), CUST_STATUS_NULL_ARGUMENT);
    cust_input_free(patch);
    OK(cust_customer_verify(admin, id, 2));

    /* Delete: customer service may not; the administrator may. */
    CHECK_STATUS(cust_customer_delete(clerk, id), CUST_STATUS_DENIED);
    OK(cust_session_last_error(clerk, text, sizeof text, NULL));
    CHECK(strstr(text, "builtin.customer_service.no_delete") != NULL);
    OK(cust_customer_delete(admin, id));
    CHECK_STATUS(cust_customer_delete(admin, id), CUST_STATUS_NOT_FOUND);
    CHECK_STATUS(cust_session_last_error(NULL, text, sizeof text, NULL), CUST_STATUS_NULL_ARGUMENT);

    cust_session_close(clerk);
    cust_session_close(admin);
    cust_store_close(store);
}

static void test_principals_consent_audit(const char *dir) {
    cust_store *store = provisioned(dir, "governance");
    cust_session *admin = NULL, *clerk = NULL, *marketer = NULL, *login = SENTINEL;
    cust_customer *customer = NULL;
    char text[256];

    OK(cust_session_open(store, "admin", "maintenance", true, 0, &admin));
    CHECK_STATUS(cust_principal_register(admin, "clerk", "dup", false), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_principal_register(admin, NULL, "x", false), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_principal_grant(admin, "clerk", "no_such_role", 0), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_principal_grant(admin, "clerk", "Not A Role", 0), CUST_STATUS_INVALID);
    OK(cust_principal_register(admin, "kiosk", "Counter kiosk", true));
    OK(cust_principal_grant(admin, "kiosk", "customer_service", 0));
    OK(cust_principal_set_password(admin, "kiosk", "kiosk password 2026"));
    CHECK_STATUS(cust_principal_set_password(admin, "kiosk", "short"), CUST_STATUS_INVALID);

    /* Login: password only (no TOTP enrolled) gives a single-factor session. */
    CHECK_STATUS(cust_session_login(store, "kiosk", "wrong password!", NULL, "service", &login), CUST_STATUS_DENIED);
    CHECK(login == SENTINEL);
    OK(cust_last_error(text, sizeof text, NULL));
    CHECK(strstr(text, "login.failed") != NULL);
    OK(cust_session_login(store, "kiosk", "kiosk password 2026", NULL, "service", &login));
    bool mfa = true;
    OK(cust_session_mfa(login, &mfa));
    CHECK(!mfa);
    cust_session_close(login);
    login = SENTINEL;
    for (int i = 0; i < 3; i++) {
        CHECK_STATUS(cust_session_login(store, "kiosk", "wrong password!", NULL, "service", &login), CUST_STATUS_DENIED);
    }
    CHECK_STATUS(cust_session_login(store, "kiosk", "kiosk password 2026", NULL, "service", &login), CUST_STATUS_DENIED);
    OK(cust_last_error(text, sizeof text, NULL));
    CHECK(strstr(text, "login.locked") != NULL);
    OK(cust_principal_unlock(admin, "kiosk"));
    OK(cust_session_login(store, "kiosk", "kiosk password 2026", NULL, "service", &login));
    CHECK_STATUS(cust_session_login(store, "kiosk", "x", BAD_UTF8, "service", &login), CUST_STATUS_INVALID_UTF8);

    uint8_t *secret = SENTINEL;
    size_t secret_len = 0;
    CHECK_STATUS(cust_principal_enrol_totp(admin, "kiosk", NULL, &secret_len), CUST_STATUS_NULL_ARGUMENT);
    OK(cust_principal_enrol_totp(admin, "kiosk", &secret, &secret_len));
    CHECK(secret != SENTINEL && secret_len == 20);
    cust_bytes_free(secret, secret_len);

    /* Consent and the marketing session. */
    OK(cust_session_open(store, "clerk", "service", false, 0, &clerk));
    cust_input *input = person("KH100", "赵敏", "13700000001");
    OK(cust_customer_create(clerk, input, &customer));
    cust_input_free(input);
    int64_t id = cust_customer_id(customer);
    cust_customer_free(customer);
    OK(cust_session_open_marketing(store, "marketer", "sms", false, 0, &marketer));
    CHECK_STATUS(cust_session_open_marketing(store, "marketer", "pigeon", false, 0, &login), CUST_STATUS_INVALID);
    customer = SENTINEL;
    CHECK_STATUS(cust_customer_get(marketer, id, &customer), CUST_STATUS_DENIED);
    CHECK(customer == SENTINEL);
    CHECK_STATUS(cust_consent_record(clerk, id, "marketing", "sms", true, "counter", NULL), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_consent_record(clerk, id, "marketing", "sms", true, "counter; DROP TABLE", "v1"), CUST_STATUS_INVALID);
    OK(cust_consent_record(clerk, id, "marketing", "sms", true, "counter", "v1"));
    OK(cust_customer_get(marketer, id, &customer));
    cust_customer_free(customer);
    OK(cust_consent_record(clerk, id, "marketing", "sms", false, "call", "v1"));
    CHECK_STATUS(cust_customer_get(marketer, id, &customer), CUST_STATUS_DENIED);
    char *json = NULL;
    OK(cust_consent_list_json(clerk, id, &json));
    CHECK(strstr(json, "\"granted\":true") != NULL && strstr(json, "\"granted\":false") != NULL);
    cust_string_free(json);

    /* Roles, revocation, access review and the audit log. */
    OK(cust_role_define_json(admin,
                             "{\"name\":\"support_lead\",\"description\":\"second line\",\"rules\":[{\"id\":"
                             "\"support.read\",\"actions\":[\"read\"],\"purposes\":[\"service\"],\"levels\":[\"L2\",\"L3\"],"
                             "\"fields\":[],\"effect\":\"allow\"}]}"));
    CHECK_STATUS(cust_role_define_json(admin, "{not json"), CUST_STATUS_INVALID);
    OK(cust_principal_grant(admin, "kiosk", "support_lead", 4102444800000));
    OK(cust_principal_revoke_role(admin, "kiosk", "support_lead"));
    CHECK_STATUS(cust_principal_revoke_role(admin, "kiosk", "support_lead"), CUST_STATUS_INVALID);
    OK(cust_principal_revoke(admin, "kiosk", "left the company"));
    cust_list *list = NULL;
    CHECK_STATUS(cust_customer_list(login, CUST_FIELD_NAME, false, 0, 10, &list), CUST_STATUS_DENIED);
    OK(cust_session_last_error(login, text, sizeof text, NULL));
    CHECK(strstr(text, "principal.revoked") != NULL);
    cust_session_close(login);

    CHECK_STATUS(cust_access_review_json(clerk, 30, &json), CUST_STATUS_DENIED);
    OK(cust_access_review_json(admin, 30, &json));
    CHECK(strstr(json, "\"id\":\"clerk\"") != NULL && strstr(json, "\"stale_after_days\":30") != NULL);
    cust_string_free(json);
    CHECK_STATUS(cust_audit_query_json(clerk, 0, NULL, 0, 0, 0, &json), CUST_STATUS_DENIED);
    CHECK_STATUS(cust_audit_query_json(admin, id, NULL, 2000, 1000, 100, &json), CUST_STATUS_INVALID_ARGUMENT);
    OK(cust_audit_query_json(admin, id, NULL, 0, 0, 100, &json));
    CHECK(strstr(json, "customer.create") != NULL && strstr(json, "13700000001") == NULL);
    cust_string_free(json);
    OK(cust_audit_query_json(admin, 0, "kiosk", 0, 0, 0, &json));
    CHECK(strstr(json, "principal.login") != NULL);
    cust_string_free(json);
    /* Out-of-range numbers are the caller's mistake: one status for all of them. */
    json = NULL;
    CHECK_STATUS(cust_audit_query_json(admin, 0, NULL, 0, 0, 10001, &json), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(json == NULL);
    uint64_t entries = 0;
    OK(cust_store_verify_audit(store, NULL, &entries));
    CHECK(entries > 20);

    cust_session_close(marketer);
    cust_session_close(clerk);
    cust_session_close(admin);
    cust_store_close(store);
}

/* A legacy khzl file: GBK text, NUL padding, an empty slot, a bad mobile. */
static void put(uint8_t *record, size_t offset, const char *bytes, size_t len) {
    memcpy(record + offset, bytes, len);
}

static void test_legacy_import(const char *dir) {
    cust_store *store = provisioned(dir, "legacy");
    cust_session *admin = NULL;
    cust_import_report *report = SENTINEL;
    uint8_t file[3 * 220];
    char text[256];
    memset(file, 0, sizeof file);
    /* bh, xm (王五 in GBK), sj */
    put(file, 0, "KH01", 4);
    put(file, 10, "\xcd\xf5\xce\xe5", 4);
    put(file, 10 + 15 + 40 + 15 + 15, "13800000001", 11);
    put(file + 220, 0, "-1", 2);
    put(file + 440, 0, "KH02", 4);
    put(file + 440, 10, "\xc0\xee\xcb\xc4", 4); /* 李四 */
    put(file + 440, 10 + 15 + 40 + 15 + 15, "12345", 5);

    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    CHECK_STATUS(cust_import_khzl(admin, file, sizeof file - 7, &report), CUST_STATUS_INVALID);
    CHECK(report == SENTINEL);
    OK(cust_session_last_error(admin, text, sizeof text, NULL));
    CHECK(strstr(text, "truncated") != NULL);
    CHECK_STATUS(cust_import_khzl(admin, NULL, 220, &report), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_import_khzl(admin, NULL, 0, &report), CUST_STATUS_INVALID); /* empty file */
    cust_list *list = NULL;
    OK(cust_customer_list(admin, CUST_FIELD_NAME, false, 0, 10, &list));
    CHECK(cust_list_total(list) == 0);
    cust_list_free(list);

    OK(cust_import_khzl(admin, file, sizeof file, &report));
    CHECK(cust_import_report_len(report) == 2);
    size_t slot = 0, problems = 0;
    int64_t customer_id = 0;
    bool verified = false;
    OK(cust_import_report_row(report, 0, &slot, &customer_id, &verified, &problems));
    CHECK(slot == 1 && verified && problems == 0 && customer_id > 0); /* records count from 1 */
    OK(cust_import_report_row(report, 1, &slot, NULL, &verified, &problems));
    CHECK(slot == 3 && !verified && problems == 1);
    OK(cust_import_report_problem(report, 1, 0, text, sizeof text, NULL));
    CHECK(strstr(text, "mobile") != NULL && strstr(text, "12345") == NULL);
    CHECK_STATUS(cust_import_report_problem(report, 1, 1, text, sizeof text, NULL), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_import_report_row(report, 2, NULL, NULL, NULL, NULL), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(cust_import_report_matched_len(report) == 0);
    cust_import_counts counts;
    OK(cust_import_report_counts(report, &counts));
    CHECK(counts.created == 2 && counts.verified == 1 && counts.already_present == 0 && counts.rejected == 0);
    cust_import_report_free(report);

    /* The same file again: nothing is doubled, both records are already present. */
    OK(cust_import_khzl(admin, file, sizeof file, &report));
    CHECK(cust_import_report_len(report) == 0 && cust_import_report_matched_len(report) == 2);
    uint32_t outcome = 99;
    int64_t matched_id = 0;
    OK(cust_import_report_matched(report, 0, &slot, &matched_id, &outcome, text, sizeof text, NULL));
    CHECK(slot == 1 && matched_id == customer_id && outcome == CUST_MATCH_PRESENT && text[0] == 0);
    CHECK_STATUS(cust_import_report_matched(report, 2, NULL, NULL, NULL, NULL, 0, NULL), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_import_report_matched(NULL, 0, NULL, NULL, NULL, NULL, 0, NULL), CUST_STATUS_NULL_ARGUMENT);
    CHECK(cust_import_report_matched_len(NULL) == 0);
    cust_import_report_free(report);
    /* A changed record is a conflict naming the field, and changes nothing... */
    put(file, 10, "\xd5\xc5\xc8\xfd", 4); /* 张三 */
    OK(cust_import_khzl(admin, file, sizeof file, &report));
    CHECK(cust_import_report_len(report) == 0);
    size_t needed = 0;
    CHECK_STATUS(cust_import_report_matched(report, 0, NULL, NULL, &outcome, NULL, 0, &needed), CUST_STATUS_BUFFER_TOO_SMALL);
    CHECK(needed == strlen("name") + 1 && outcome == CUST_MATCH_CONFLICT);
    OK(cust_import_report_matched(report, 0, NULL, NULL, &outcome, text, sizeof text, NULL));
    CHECK(strcmp(text, "name") == 0);
    cust_import_report_free(report);
    cust_customer *kept = NULL;
    OK(cust_customer_get(admin, customer_id, &kept));
    OK(cust_customer_field(kept, CUST_FIELD_NAME, text, sizeof text, NULL, NULL));
    CHECK(strcmp(text, "王五") == 0);
    cust_customer_free(kept);
    /* ...unless an update is asked for. */
    OK(cust_import_khzl_update(admin, file, sizeof file, &report));
    OK(cust_import_report_matched(report, 0, NULL, NULL, &outcome, text, sizeof text, NULL));
    CHECK(outcome == CUST_MATCH_UPDATED && strcmp(text, "name") == 0);
    OK(cust_import_report_counts(report, &counts));
    CHECK(counts.created == 0 && counts.updated == 1 && counts.already_present == 1 && counts.conflicts == 0);
    cust_import_report_free(report);
    OK(cust_customer_get(admin, customer_id, &kept));
    OK(cust_customer_field(kept, CUST_FIELD_NAME, text, sizeof text, NULL, NULL));
    CHECK(strcmp(text, "张三") == 0);
    cust_customer_free(kept);
    CHECK_STATUS(cust_import_khzl_update(NULL, file, sizeof file, &report), CUST_STATUS_NULL_ARGUMENT);

    OK(cust_customer_list(admin, CUST_FIELD_NAME, false, 0, 10, &list));
    CHECK(cust_list_total(list) == 2);
    const cust_customer *first = NULL;
    OK(cust_list_get(list, 0, &first));
    OK(cust_customer_field(first, CUST_FIELD_NAME, text, sizeof text, NULL, NULL));
    CHECK(strcmp(text, "李四") == 0); /* 李四 sorts before 张三 */
    OK(cust_customer_field(first, CUST_FIELD_STATUS, text, sizeof text, NULL, NULL));
    CHECK(strcmp(text, "unverified") == 0);
    cust_list_free(list);
    cust_session_close(admin);
    cust_store_close(store);
}

/* Two threads on one store handle, each with its own session. */
struct worker {
    cust_store *store;
    int index;
    int failures;
};

static void *work(void *arg) {
    struct worker *w = arg;
    cust_session *session = NULL;
    if (cust_session_open(w->store, "clerk", "service", false, 0, &session) != CUST_STATUS_OK) {
        w->failures++;
        return NULL;
    }
    for (int i = 0; i < 20; i++) {
        char code[32], mobile[32];
        snprintf(code, sizeof code, "T%d-%02d", w->index, i);
        snprintf(mobile, sizeof mobile, "1370%d%06d", w->index, i);
        cust_input *input = person(code, "线程客户", mobile);
        cust_customer *customer = NULL;
        if (cust_customer_create(session, input, &customer) != CUST_STATUS_OK) {
            w->failures++;
        } else {
            cust_customer *again = NULL;
            if (cust_customer_get(session, cust_customer_id(customer), &again) != CUST_STATUS_OK) {
                w->failures++;
            }
            cust_customer_free(again);
        }
        cust_customer_free(customer);
        cust_input_free(input);
    }
    cust_session_close(session);
    return NULL;
}

static void test_threads(const char *dir) {
    cust_store *store = provisioned(dir, "threads");
    pthread_t threads[2];
    struct worker workers[2] = {{store, 1, 0}, {store, 2, 0}};
    for (int i = 0; i < 2; i++) {
        CHECK(pthread_create(&threads[i], NULL, work, &workers[i]) == 0);
    }
    for (int i = 0; i < 2; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK(workers[i].failures == 0);
    }
    uint64_t entries = 0;
    OK(cust_store_verify_audit(store, NULL, &entries));
    cust_session *admin = NULL;
    cust_list *list = NULL;
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    OK(cust_customer_list(admin, CUST_FIELD_EXTERNAL_CODE, false, 0, 100, &list));
    CHECK(cust_list_total(list) == 40);
    cust_list_free(list);
    cust_session_close(admin);
    cust_store_close(store);
}

/* What a host keeps outside the store: the last checkpoint, every receipt. */
struct outside {
    char checkpoint[2048];
    char receipts[8192];
};

static void keep_checkpoint(void *user, const char *text) {
    struct outside *o = user;
    snprintf(o->checkpoint, sizeof o->checkpoint, "%s", text);
}

static void keep_receipt(void *user, const char *text) {
    struct outside *o = user;
    strncat(o->receipts, text, sizeof o->receipts - strlen(o->receipts) - 1);
}

/* Data-subject requests, holds, retention, backup, restore, rotation. */
static void test_lifecycle(const char *dir) {
    const cust_status N = CUST_STATUS_NULL_ARGUMENT;
    char path[512], backup[512], restored[512], text[512];
    static const uint8_t NEW_KEY[32] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
                                        9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
    cust_store *store = provisioned(dir, "lifecycle-store");
    /* The host keeps every checkpoint and erasure receipt outside the store. */
    static struct outside kept;
    memset(&kept, 0, sizeof kept);
    CHECK_STATUS(cust_store_set_checkpoints(NULL, 1, 60, keep_checkpoint, keep_receipt, &kept), N);
    OK(cust_store_set_checkpoints(store, 1, 60, keep_checkpoint, keep_receipt, &kept));
    cust_session *compliance = NULL, *clerk = NULL;
    cust_customer *customer = NULL;
    char *json = NULL;
    path_in(path, sizeof path, dir, "lifecycle-store");
    path_in(backup, sizeof backup, dir, "lifecycle-backup");
    path_in(restored, sizeof restored, dir, "lifecycle-restored");

    OK(cust_session_open(store, "admin", "compliance", true, 0, &compliance));
    OK(cust_session_open(store, "clerk", "service", false, 0, &clerk));
    cust_input *input = person("KH500", "周洁", "13600000001");
    OK(cust_customer_create(clerk, input, &customer));
    int64_t id = cust_customer_id(customer);
    cust_customer_free(customer);
    cust_input_free(input);
    input = person("KH501", "吴昊", "13600000002");
    OK(cust_customer_create(clerk, input, &customer));
    int64_t other = cust_customer_id(customer);
    cust_customer_free(customer);
    cust_input_free(input);

    /* Export, rectify, restrict. */
    CHECK_STATUS(cust_customer_export_json(clerk, id, &json), CUST_STATUS_DENIED);
    OK(cust_customer_export_json(compliance, id, &json));
    CHECK(strstr(json, "\"access_history\"") != NULL && strstr(json, "customer.create") != NULL);
    cust_string_free(json);
    CHECK_STATUS(cust_customer_export_json(NULL, id, &json), N);
    CHECK_STATUS(cust_customer_export_json(compliance, id, NULL), N);
    cust_input *patch = NULL;
    OK(cust_input_new(CUST_KIND_INDIVIDUAL, &patch));
    OK(cust_input_set(patch, CUST_FIELD_EMAIL, "zhou.jie@example.com"));
    OK(cust_customer_rectify(compliance, id, 1, patch, "dsr-1", &customer));
    CHECK(cust_customer_version(customer) == 2);
    cust_customer_free(customer);
    CHECK_STATUS(cust_customer_rectify(compliance, id, 1, patch, "dsr-1", &customer), CUST_STATUS_VERSION_CONFLICT);
    CHECK_STATUS(cust_customer_rectify(compliance, id, 2, patch, NULL, &customer), N);
    CHECK_STATUS(cust_customer_rectify(compliance, id, 2, NULL, "dsr-1", &customer), N);
    cust_input_free(patch);
    OK(cust_customer_restrict(compliance, id, "objection-1"));
    CHECK_STATUS(cust_customer_get(clerk, id, &customer), CUST_STATUS_DENIED);
    OK(cust_session_last_error(clerk, text, sizeof text, NULL));
    CHECK(strstr(text, "subject.restricted") != NULL);
    OK(cust_customer_lift_restriction(compliance, id));
    CHECK_STATUS(cust_customer_lift_restriction(compliance, id), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_customer_restrict(NULL, id, "x"), N);
    CHECK_STATUS(cust_customer_restrict(compliance, id, NULL), N);

    /* A backup before the erasure. */
    OK(cust_store_backup(store, backup, &json));
    CHECK(strstr(json, "\"kind\":\"full\"") != NULL && strstr(json, "\"key_generation\":1") != NULL);
    cust_string_free(json);
    CHECK_STATUS(cust_store_backup(store, backup, NULL), CUST_STATUS_ALREADY_EXISTS);
    CHECK_STATUS(cust_store_backup(NULL, backup, NULL), N);
    CHECK_STATUS(cust_store_backup(store, NULL, NULL), N);
    uint64_t customers = 0;
    OK(cust_backup_verify(backup, KEY, 32, &customers));
    CHECK(customers == 2);
    CHECK_STATUS(cust_backup_verify(backup, WRONG_KEY, 32, NULL), CUST_STATUS_BACKUP_KEY);
    CHECK(strstr(last_error(), "master-key generation 1") != NULL);
    CHECK_STATUS(cust_backup_verify(NULL, KEY, 32, NULL), N);
    /* The manifest reads without a key; damaged files have statuses of their own. */
    OK(cust_backup_manifest_json(backup, &json));
    CHECK(strstr(json, "\"store_id\":") != NULL && strstr(json, "customers.db") != NULL);
    cust_string_free(json);
    CHECK_STATUS(cust_backup_manifest_json(backup, NULL), N);
    CHECK_STATUS(cust_backup_manifest_json(NULL, &json), N);
    char damaged[512];
    path_in(damaged, sizeof damaged, dir, "lifecycle-damaged");
    {
        FILE *in = fopen(backup, "rb"), *out = fopen(damaged, "wb");
        char chunk[300];
        size_t got = fread(chunk, 1, sizeof chunk, in);
        fwrite(chunk, 1, got, out); /* the header and a piece of the first chunk */
        fclose(in);
        fclose(out);
    }
    CHECK_STATUS(cust_backup_verify(damaged, KEY, 32, NULL), CUST_STATUS_BACKUP_TRUNCATED);
    CHECK_STATUS(cust_backup_manifest_json(path, &json), CUST_STATUS_STORAGE); /* a directory */
    path_in(damaged, sizeof damaged, dir, "lifecycle-store/customers.db");
    CHECK_STATUS(cust_backup_verify(damaged, KEY, 32, NULL), CUST_STATUS_NOT_A_BACKUP);

    /* Hold, erase, retention. */
    OK(cust_customer_place_hold(compliance, id, "case-1"));
    CHECK_STATUS(cust_customer_erase(compliance, id, "dsr-2"), CUST_STATUS_LEGAL_HOLD);
    OK(cust_customer_lift_hold(compliance, id));
    CHECK_STATUS(cust_customer_erase(clerk, id, "dsr-2"), CUST_STATUS_DENIED);
    OK(cust_customer_erase(compliance, id, "dsr-2"));
    CHECK_STATUS(cust_customer_get(compliance, id, &customer), CUST_STATUS_NOT_FOUND);
    /* Nothing held the logs: the erasure emptied them, no purge is owed. */
    bool owed = true;
    OK(cust_store_purge_owed(store, &owed));
    CHECK(!owed);
    OK(cust_store_purge_logs(store));
    CHECK_STATUS(cust_store_purge_owed(store, NULL), N);
    CHECK_STATUS(cust_store_purge_owed(NULL, &owed), N);
    CHECK_STATUS(cust_store_purge_logs(NULL), N);
    CHECK_STATUS(cust_customer_erase(compliance, id, NULL), N);
    CHECK_STATUS(cust_customer_place_hold(NULL, id, "x"), N);
    CHECK_STATUS(cust_customer_lift_hold(NULL, id), N);
    OK(cust_retention_define_json(compliance, "{\"id\":\"all-now\",\"rule\":{\"rule\":\"inactive_for\",\"days\":3650},\"method\":\"crypto_shred\"}"));
    CHECK_STATUS(cust_retention_define_json(compliance, "{\"id\":\"x\"}"), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_retention_define_json(compliance, NULL), N);
    OK(cust_retention_sweep_json(compliance, &json));
    CHECK(strstr(json, "\"destroyed\":[]") != NULL); /* nothing is ten years old */
    cust_string_free(json);
    CHECK_STATUS(cust_retention_sweep_json(compliance, NULL), N);
    CHECK_STATUS(cust_retention_sweep_json(NULL, &json), N);

    /* Rotation while sessions are open: they go on working. */
    CHECK_STATUS(cust_store_rotate_key(store, NEW_KEY, 31), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_store_rotate_key(NULL, NEW_KEY, 32), N);
    OK(cust_store_rotate_key(store, NEW_KEY, 32));
    OK(cust_customer_get(clerk, other, &customer));
    cust_customer_free(customer);
    input = person("KH502", "郑爽", "13600000003");
    OK(cust_customer_create(clerk, input, &customer));
    int64_t late = cust_customer_id(customer);
    cust_customer_free(customer);
    cust_input_free(input);
    /* An increment over the full backup, under the rotated key. */
    char increment[512];
    path_in(increment, sizeof increment, dir, "lifecycle-increment");
    OK(cust_store_backup_increment(store, increment, backup, &json));
    CHECK(strstr(json, "\"kind\":\"increment\"") != NULL && strstr(json, "\"key_generation\":2") != NULL);
    cust_string_free(json);
    CHECK_STATUS(cust_store_backup_increment(store, increment, backup, NULL), CUST_STATUS_ALREADY_EXISTS);
    CHECK_STATUS(cust_store_backup_increment(store, "nowhere-inc", NULL, NULL), N);
    CHECK_STATUS(cust_store_backup_increment(NULL, "nowhere-inc", backup, NULL), N);
    const char *chain[2] = {backup, increment}, *reversed[2] = {increment, backup};
    OK(cust_backup_verify_chain(chain, 2, NEW_KEY, 32, &customers));
    CHECK(customers == 2); /* one erased, one created */
    CHECK_STATUS(cust_backup_verify_chain(reversed, 2, NEW_KEY, 32, NULL), CUST_STATUS_BACKUP_CHAIN);
    CHECK_STATUS(cust_backup_verify_chain(chain, 2, KEY, 32, NULL), CUST_STATUS_BACKUP_KEY);
    CHECK_STATUS(cust_backup_verify_chain(NULL, 2, NEW_KEY, 32, NULL), N);
    CHECK_STATUS(cust_backup_verify_chain(chain, 0, NEW_KEY, 32, NULL), CUST_STATUS_INVALID_ARGUMENT);
    char extracted[512];
    path_in(extracted, sizeof extracted, dir, "lifecycle-extracted");
    OK(cust_backup_extract(chain, 2, NEW_KEY, 32, extracted));
    CHECK_STATUS(cust_backup_extract(chain, 2, NEW_KEY, 32, extracted), CUST_STATUS_ALREADY_EXISTS);
    CHECK_STATUS(cust_backup_extract(chain, 2, NEW_KEY, 32, NULL), N);
    cust_session_close(clerk);
    cust_session_close(compliance);
    cust_store_close(store);
    store = SENTINEL;
    CHECK_STATUS(cust_store_open(path, KEY, 32, &store), CUST_STATUS_WRONG_KEY);
    OK(cust_store_open(path, NEW_KEY, 32, &store));
    cust_store_close(store);

    /* The older backup (taken under the old key) restored into the live store:
     * only customer records are replaced; the erasure stands. */
    CHECK_STATUS(cust_store_restore_rotated(backup, path, NEW_KEY, 32, KEY, 32, NULL), CUST_STATUS_BACKUP_KEY);
    CHECK_STATUS(cust_store_restore_rotated(NULL, path, KEY, 32, NEW_KEY, 32, NULL), N);
    CHECK_STATUS(cust_store_restore_rotated(backup, path, KEY, 31, NEW_KEY, 32, NULL), CUST_STATUS_INVALID_ARGUMENT);
    OK(cust_store_restore_rotated(backup, path, KEY, 32, NEW_KEY, 32, &json));
    CHECK(strstr(json, "\"keys_restored\":false") != NULL && strstr(json, "\"removed_by_ledger\":1") != NULL);
    cust_string_free(json);
    cust_session *admin = NULL;
    OK(cust_store_open(path, NEW_KEY, 32, &store)); /* still under the current key */
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    CHECK_STATUS(cust_customer_get(admin, id, &customer), CUST_STATUS_NOT_FOUND);
    OK(cust_customer_get(admin, other, &customer));
    cust_customer_free(customer);
    CHECK_STATUS(cust_customer_get(admin, late, &customer), CUST_STATUS_NOT_FOUND); /* made after the backup */
    cust_session_close(admin);
    cust_store_close(store);
    /* The full backup and its increment: the customer made before the increment is back. */
    CHECK_STATUS(cust_store_restore_chain(reversed, 2, path, NEW_KEY, 32, NULL), CUST_STATUS_BACKUP_CHAIN);
    CHECK_STATUS(cust_store_restore_chain(chain, 2, NULL, NEW_KEY, 32, NULL), N);
    OK(cust_store_restore_chain(chain, 2, path, NEW_KEY, 32, &json));
    CHECK(strstr(json, "\"restored\":2") != NULL && strstr(json, "\"removed\":[]") != NULL);
    cust_string_free(json);
    OK(cust_store_open(path, NEW_KEY, 32, &store));
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    OK(cust_customer_get(admin, late, &customer));
    cust_customer_free(customer);
    CHECK_STATUS(cust_customer_get(admin, id, &customer), CUST_STATUS_NOT_FOUND); /* erased stays erased */
    cust_session_close(admin);
    cust_store_close(store);

    /* The store lost whole: refused without the host's outside record... */
    CHECK_STATUS(cust_store_restore(backup, restored, KEY, 32, &json), CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "outside_record_required") != NULL);
    CHECK_STATUS(cust_store_restore(NULL, restored, KEY, 32, NULL), N);
    CHECK(strstr(kept.checkpoint, "custodian audit checkpoint v1") != NULL);
    CHECK(strstr(kept.receipts, "custodian erasure receipt v1") != NULL);
    CHECK_STATUS(cust_store_restore_after_loss(backup, restored, KEY, 32, "not a checkpoint", NULL, false, NULL),
                 CUST_STATUS_INVALID);
    CHECK_STATUS(cust_store_restore_after_loss(NULL, restored, KEY, 32, NULL, NULL, true, NULL), N);
    /* ...and with it, the erased customer stays erased. */
    OK(cust_store_restore_after_loss(backup, restored, KEY, 32, kept.checkpoint, kept.receipts, false, &json));
    CHECK(strstr(json, "\"keys_restored\":true") != NULL && strstr(json, "\"unknown_through\":") != NULL);
    cust_string_free(json);
    OK(cust_store_open(restored, KEY, 32, &store));
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    CHECK_STATUS(cust_customer_get(admin, id, &customer), CUST_STATUS_NOT_FOUND);
    OK(cust_customer_get(admin, other, &customer));
    cust_customer_free(customer);
    cust_session_close(admin);
    cust_store_close(store);
    /* Acknowledged without a record: restored as the backup was. */
    char blind[512];
    path_in(blind, sizeof blind, dir, "lifecycle-blind");
    OK(cust_store_restore_after_loss(backup, blind, KEY, 32, NULL, NULL, true, &json));
    CHECK(strstr(json, "\"unknown_through\":null") != NULL);
    cust_string_free(json);
}

/* Every function that takes a handle refuses NULL for it, and every output
 * pointer refuses NULL, with CUST_STATUS_NULL_ARGUMENT. */
static void test_null_everywhere(const char *dir) {
    const cust_status N = CUST_STATUS_NULL_ARGUMENT;
    char buf[16];
    void *out = NULL;
    size_t size_out = 0;
    bool flag = false;
    cust_store *store = provisioned(dir, "nulls");
    cust_session *s = NULL;
    OK(cust_session_open(store, "admin", "service", true, 0, &s));

    CHECK_STATUS(cust_store_set_login_policy(NULL, 1, 1, 1000), N);
    CHECK_STATUS(cust_store_bootstrap_admin(NULL, "a", "b"), N);
    CHECK_STATUS(cust_store_bootstrap_admin(store, "a", NULL), N);
    CHECK_STATUS(cust_store_checkpoint(NULL, (char **)&out), N);
    CHECK_STATUS(cust_session_open(store, NULL, "service", false, 0, (cust_session **)&out), N);
    CHECK_STATUS(cust_session_open(store, "admin", NULL, false, 0, (cust_session **)&out), N);
    CHECK_STATUS(cust_session_open(store, "admin", "service", false, 0, NULL), N);
    CHECK_STATUS(cust_session_open_marketing(NULL, "m", "sms", false, 0, (cust_session **)&out), N);
    CHECK_STATUS(cust_session_open_marketing(store, "marketer", NULL, false, 0, (cust_session **)&out), N);
    CHECK_STATUS(cust_session_open_marketing(store, "marketer", "sms", false, 0, NULL), N);
    CHECK_STATUS(cust_session_login(NULL, "a", "b", NULL, "service", (cust_session **)&out), N);
    CHECK_STATUS(cust_session_login(store, "a", NULL, NULL, "service", (cust_session **)&out), N);
    CHECK_STATUS(cust_session_login(store, "a", "b", NULL, NULL, (cust_session **)&out), N);
    CHECK_STATUS(cust_session_login(store, "a", "b", NULL, "service", NULL), N);
    CHECK_STATUS(cust_session_mfa(NULL, &flag), N);
    CHECK_STATUS(cust_session_last_error(NULL, buf, sizeof buf, NULL), N);

    CHECK_STATUS(cust_customer_create(s, NULL, (cust_customer **)&out), N);
    CHECK_STATUS(cust_customer_create_json(NULL, "{}", (cust_customer **)&out), N);
    CHECK_STATUS(cust_customer_create_json(s, NULL, (cust_customer **)&out), N);
    CHECK_STATUS(cust_customer_create_json(s, "{}", NULL), N);
    CHECK_STATUS(cust_customer_get(NULL, 1, (cust_customer **)&out), N);
    CHECK_STATUS(cust_customer_get(s, 1, NULL), N);
    CHECK_STATUS(cust_customer_get_by_code(NULL, "KH1", (cust_customer **)&out), N);
    CHECK_STATUS(cust_customer_get_by_code(s, NULL, (cust_customer **)&out), N);
    CHECK_STATUS(cust_customer_get_by_code(s, "KH1", NULL), N);
    CHECK_STATUS(cust_customer_update(NULL, 1, 1, NULL, (cust_customer **)&out), N);
    CHECK_STATUS(cust_customer_delete(NULL, 1), N);
    CHECK_STATUS(cust_customer_verify(NULL, 1, 1), N);
    CHECK_STATUS(cust_customer_find(NULL, CUST_FIELD_MOBILE, "1", (cust_list **)&out), N);
    CHECK_STATUS(cust_customer_find(s, CUST_FIELD_MOBILE, NULL, (cust_list **)&out), N);
    CHECK_STATUS(cust_customer_find(s, CUST_FIELD_MOBILE, "13800000001", NULL), N);
    CHECK_STATUS(cust_customer_list(NULL, CUST_FIELD_NAME, false, 0, 10, (cust_list **)&out), N);
    CHECK_STATUS(cust_customer_list(s, CUST_FIELD_NAME, false, 0, 10, NULL), N);
    CHECK_STATUS(cust_customer_search(NULL, "a", 0, 10, (cust_list **)&out), N);
    CHECK_STATUS(cust_customer_search(s, NULL, 0, 10, (cust_list **)&out), N);
    CHECK_STATUS(cust_customer_search(s, "a", 0, 10, NULL), N);
    CHECK_STATUS(cust_customer_to_json(NULL, (char **)&out), N);
    CHECK_STATUS(cust_list_get(NULL, 0, (const cust_customer **)&out), N);
    CHECK_STATUS(cust_import_khzl(NULL, (const uint8_t *)"x", 1, (cust_import_report **)&out), N);
    CHECK_STATUS(cust_import_khzl(s, (const uint8_t *)"x", 1, NULL), N);
    CHECK_STATUS(cust_import_report_row(NULL, 0, NULL, NULL, NULL, NULL), N);
    CHECK_STATUS(cust_import_report_problem(NULL, 0, 0, buf, sizeof buf, NULL), N);

    CHECK_STATUS(cust_principal_register(NULL, "a", "b", false), N);
    CHECK_STATUS(cust_principal_register(s, "a", NULL, false), N);
    CHECK_STATUS(cust_principal_grant(NULL, "a", "auditor", 0), N);
    CHECK_STATUS(cust_principal_grant(s, NULL, "auditor", 0), N);
    CHECK_STATUS(cust_principal_grant(s, "clerk", NULL, 0), N);
    CHECK_STATUS(cust_principal_revoke_role(NULL, "a", "auditor"), N);
    CHECK_STATUS(cust_principal_revoke_role(s, "clerk", NULL), N);
    CHECK_STATUS(cust_principal_revoke(NULL, "a", "b"), N);
    CHECK_STATUS(cust_principal_revoke(s, "clerk", NULL), N);
    CHECK_STATUS(cust_principal_set_password(NULL, "a", "b"), N);
    CHECK_STATUS(cust_principal_set_password(s, "clerk", NULL), N);
    CHECK_STATUS(cust_principal_enrol_totp(NULL, "a", (uint8_t **)&out, &size_out), N);
    CHECK_STATUS(cust_principal_enrol_totp(s, NULL, (uint8_t **)&out, &size_out), N);
    CHECK_STATUS(cust_principal_unlock(NULL, "a"), N);
    CHECK_STATUS(cust_principal_unlock(s, NULL), N);
    CHECK_STATUS(cust_role_define_json(NULL, "{}"), N);
    CHECK_STATUS(cust_role_define_json(s, NULL), N);
    CHECK_STATUS(cust_access_review_json(NULL, 30, (char **)&out), N);
    CHECK_STATUS(cust_access_review_json(s, 30, NULL), N);
    CHECK_STATUS(cust_consent_record(NULL, 1, "marketing", "sms", true, "counter", "v1"), N);
    CHECK_STATUS(cust_consent_record(s, 1, NULL, "sms", true, "counter", "v1"), N);
    CHECK_STATUS(cust_consent_record(s, 1, "marketing", NULL, true, "counter", "v1"), N);
    CHECK_STATUS(cust_consent_record(s, 1, "marketing", "sms", true, NULL, "v1"), N);
    CHECK_STATUS(cust_consent_list_json(NULL, 1, (char **)&out), N);
    CHECK_STATUS(cust_consent_list_json(s, 1, NULL), N);
    CHECK_STATUS(cust_audit_query_json(NULL, 0, NULL, 0, 0, 0, (char **)&out), N);
    CHECK_STATUS(cust_audit_query_json(s, 0, NULL, 0, 0, 0, NULL), N);
    CHECK(out == NULL);

    cust_session_close(s);
    cust_store_close(store);
}

/* A store whose master key comes from a passphrase has its backups verified
 * and restored, and its key rotated, from C like any other. */
static void test_passphrase_lifecycle(const char *dir) {
    const cust_status N = CUST_STATUS_NULL_ARGUMENT;
    const char *PASS = "passphrase store 2026", *NEW_PASS = "the next passphrase 2027";
    char path[512], backup[512], restored[512];
    cust_store *store = NULL;
    cust_session *admin = NULL;
    cust_customer *customer = NULL;
    char *json = NULL;
    uint64_t customers = 0;
    path_in(path, sizeof path, dir, "pass-store");
    path_in(backup, sizeof backup, dir, "pass-backup");
    path_in(restored, sizeof restored, dir, "pass-restored");

    OK(cust_store_create_passphrase(path, PASS, 100000, &store));
    OK(cust_store_bootstrap_admin(store, "admin", "Administrator"));
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    cust_input *input = person("KH900", "钱多", "13500000009");
    OK(cust_customer_create(admin, input, &customer));
    int64_t id = cust_customer_id(customer);
    cust_customer_free(customer);
    cust_input_free(input);
    cust_session_close(admin);
    OK(cust_store_backup(store, backup, NULL));
    char increment[512];
    path_in(increment, sizeof increment, dir, "pass-increment");
    OK(cust_store_backup_increment(store, increment, backup, NULL));
    const char *chain[2] = {backup, increment};
    OK(cust_backup_verify_chain_passphrase(chain, 2, PASS, &customers));
    CHECK(customers == 1);
    CHECK_STATUS(cust_backup_verify_chain_passphrase(chain, 2, "not the passphrase", NULL), CUST_STATUS_BACKUP_KEY);
    CHECK_STATUS(cust_backup_verify_chain_passphrase(chain, 2, NULL, NULL), N);
    CHECK_STATUS(cust_store_restore_chain_passphrase(chain, 2, path, PASS, NULL), CUST_STATUS_STORE_OPEN);
    CHECK_STATUS(cust_store_restore_chain_passphrase(chain, 2, path, NULL, NULL), N);
    char extracted[512];
    path_in(extracted, sizeof extracted, dir, "pass-extracted");
    CHECK_STATUS(cust_backup_extract_passphrase(chain, 2, "not the passphrase", extracted), CUST_STATUS_BACKUP_KEY);
    OK(cust_backup_extract_passphrase(chain, 2, PASS, extracted));
    CHECK_STATUS(cust_backup_extract_passphrase(chain, 2, PASS, NULL), N);

    /* A restore into the open store is refused with a status of its own. */
    CHECK_STATUS(cust_store_restore_passphrase(backup, path, PASS, NULL), CUST_STATUS_STORE_OPEN);
    CHECK(strstr(last_error(), "is open in this process; close it") != NULL);

    /* Verification with the passphrase; a wrong one, or key bytes, are refused. */
    OK(cust_backup_verify_passphrase(backup, PASS, &customers));
    CHECK(customers == 1);
    customers = 77;
    CHECK_STATUS(cust_backup_verify_passphrase(backup, "not the passphrase", &customers), CUST_STATUS_BACKUP_KEY);
    CHECK(customers == 77);
    CHECK_STATUS(cust_backup_verify(backup, KEY, 32, &customers), CUST_STATUS_BACKUP_KEY);
    CHECK_STATUS(cust_backup_verify_passphrase(NULL, PASS, NULL), N);
    CHECK_STATUS(cust_backup_verify_passphrase(backup, NULL, NULL), N);
    CHECK_STATUS(cust_backup_verify_passphrase(backup, BAD_UTF8, NULL), CUST_STATUS_INVALID_UTF8);

    /* Rotation to a new passphrase: the KDF floor holds, then the old one stops working. */
    CHECK_STATUS(cust_store_rotate_key_passphrase(store, NEW_PASS, 99999), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_store_rotate_key_passphrase(store, "short", 100000), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_store_rotate_key_passphrase(NULL, NEW_PASS, 100000), N);
    CHECK_STATUS(cust_store_rotate_key_passphrase(store, NULL, 100000), N);
    OK(cust_store_rotate_key_passphrase(store, NEW_PASS, 100000));
    cust_store_close(store);
    store = SENTINEL;
    CHECK_STATUS(cust_store_open_passphrase(path, PASS, &store), CUST_STATUS_WRONG_KEY);
    CHECK(store == SENTINEL);
    OK(cust_store_open_passphrase(path, NEW_PASS, &store));
    /* And from a passphrase to raw key bytes. */
    OK(cust_store_rotate_key(store, KEY, 32));
    cust_store_close(store);
    OK(cust_store_open(path, KEY, 32, &store));
    cust_store_close(store);

    /* The backup (taken under the first passphrase) restores with it. */
    CHECK_STATUS(cust_store_restore_passphrase(backup, restored, "not the passphrase", &json), CUST_STATUS_BACKUP_KEY);
    CHECK_STATUS(cust_store_restore_passphrase(NULL, restored, PASS, NULL), N);
    CHECK_STATUS(cust_store_restore_passphrase(backup, NULL, PASS, NULL), N);
    CHECK_STATUS(cust_store_restore_passphrase(backup, restored, NULL, NULL), N);
    /* The right passphrase opens the backup; into an empty directory the
     * restore then asks for the host's outside record. */
    CHECK_STATUS(cust_store_restore_passphrase(backup, restored, PASS, &json), CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "outside_record_required") != NULL);
    /* The chain opens with the passphrase, but the live store (rotated to
     * key bytes since) does not: refused before anything is replaced. */
    CHECK_STATUS(cust_store_restore_chain_passphrase(chain, 2, path, PASS, &json), CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "key_kind") != NULL);
    OK(cust_store_open(path, KEY, 32, &store));
    cust_store_close(store);
    (void)id;
}

/* A record field's text and how it is shown (a static copy). */
static const char *record_text(const cust_record *record, const char *field, uint32_t *shown) {
    static char value[512];
    value[0] = 0;
    OK(cust_record_field(record, field, value, sizeof value, NULL, shown));
    return value;
}

/* Attached records: a transaction with items and a card, a complaint with a
 * past deadline, what customer service and an administrator without MFA see
 * of them, status changes, patches, the timeline, the overdue query. */
static void test_records(const char *dir) {
    cust_store *store = provisioned(dir, "records");
    cust_session *admin = NULL, *clerk = NULL, *plain_admin = NULL;
    uint32_t shown = 99;
    char text[512];
    size_t needed = 0;
    const int64_t now = (int64_t)time(NULL) * 1000;
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    OK(cust_session_open(store, "admin", "service", false, 0, &plain_admin));
    OK(cust_session_open(store, "clerk", "service", false, 0, &clerk));
    cust_input *person_input = person("KH900", "赵六", "13900000900");
    cust_customer *customer = NULL;
    OK(cust_customer_create(admin, person_input, &customer));
    cust_input_free(person_input);
    const int64_t cid = cust_customer_id(customer);
    cust_customer_free(customer);

    /* The builder: names checked at once, NULLs and bad UTF-8 refused. */
    cust_transaction_input *order = SENTINEL;
    CHECK_STATUS(cust_transaction_input_new("SO-1", "CNY", 29000, "cheque", &order), CUST_STATUS_INVALID);
    CHECK(order == SENTINEL && strstr(last_error(), "payment_method") != NULL);
    CHECK_STATUS(cust_transaction_input_new(NULL, "CNY", 29000, "bank_card", &order), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_transaction_input_new(BAD_UTF8, "CNY", 29000, "bank_card", &order), CUST_STATUS_INVALID_UTF8);
    CHECK_STATUS(cust_transaction_input_new("SO-1", "CNY", 29000, "bank_card", NULL), CUST_STATUS_NULL_ARGUMENT);
    CHECK(order == SENTINEL);
    OK(cust_transaction_input_new("SO-2026-0001", "CNY", 29000, "bank_card", &order));
    OK(cust_transaction_input_add_item(order, "龙井茶 250g", 2, 8800));
    OK(cust_transaction_input_add_item(order, "茶具", 1, 12000));
    OK(cust_transaction_input_add_adjustment(order, "会员折扣", -600));
    CHECK_STATUS(cust_transaction_input_set_status(order, "lost"), CUST_STATUS_INVALID);
    OK(cust_transaction_input_set_status(order, "paid"));
    OK(cust_transaction_input_set_time(order, now - 60000));
    CHECK_STATUS(cust_transaction_input_add_item(NULL, "x", 1, 1), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_transaction_input_add_item(order, BAD_UTF8, 1, 1), CUST_STATUS_INVALID_UTF8);

    /* A card failing Luhn is refused without the number in the message. */
    cust_record *record = SENTINEL;
    OK(cust_transaction_input_set_card(order, "4111 1111 1111 1112"));
    CHECK_STATUS(cust_transaction_add(admin, cid, order, &record), CUST_STATUS_INVALID);
    CHECK(record == SENTINEL);
    OK(cust_session_last_error(admin, text, sizeof text, NULL));
    CHECK(strstr(text, "card_luhn") != NULL && strstr(text, "1112") == NULL && strstr(text, "4111") == NULL);
    OK(cust_transaction_input_set_card(order, "4111 1111 1111 1111"));

    /* A total that is not the items plus adjustments is refused by rule. */
    cust_transaction_input *wrong = NULL;
    OK(cust_transaction_input_new("SO-2026-0002", "CNY", 30000, "cash", &wrong));
    OK(cust_transaction_input_add_item(wrong, "茶具", 1, 12000));
    CHECK_STATUS(cust_transaction_add(admin, cid, wrong, &record), CUST_STATUS_INVALID);
    CHECK(record == SENTINEL && strstr(last_error(), "total_mismatch") != NULL);
    cust_transaction_input_free(wrong);
    CHECK_STATUS(cust_transaction_add(admin, cid, NULL, &record), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_transaction_add(NULL, cid, order, &record), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_transaction_add(admin, cid, order, NULL), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_transaction_add(admin, 424242, order, &record), CUST_STATUS_NOT_FOUND);

    /* A batch: all or nothing, the rejected position named; ids in input order. */
    {
        cust_transaction_input *batch[3] = {NULL, NULL, NULL};
        for (int i = 0; i < 3; i++) {
            OK(cust_transaction_input_new("SO-BATCH", "CNY", 1000, "cash", &batch[i]));
            OK(cust_transaction_input_add_item(batch[i], "茶", i == 1 ? 0 : 2, 500));
        }
        uint64_t ids[3] = {7, 7, 7};
        const cust_transaction_input *const inputs[3] = {batch[0], batch[1], batch[2]};
        CHECK_STATUS(cust_transaction_add_many(admin, cid, inputs, 3, ids), CUST_STATUS_IN_BATCH);
        CHECK(ids[0] == 7 && strstr(last_error(), "input 1") != NULL && strstr(last_error(), "quantity_not_positive") != NULL);
        CHECK_STATUS(cust_transaction_add_many(admin, cid, inputs, 0, ids), CUST_STATUS_INVALID_ARGUMENT);
        CHECK_STATUS(cust_transaction_add_many(admin, cid, NULL, 3, ids), CUST_STATUS_NULL_ARGUMENT);
        CHECK_STATUS(cust_transaction_add_many(admin, cid, inputs, 3, NULL), CUST_STATUS_NULL_ARGUMENT);
        const cust_transaction_input *const with_null[2] = {batch[0], NULL};
        CHECK_STATUS(cust_transaction_add_many(admin, cid, with_null, 2, ids), CUST_STATUS_NULL_ARGUMENT);
        const cust_transaction_input *const good[2] = {batch[0], batch[2]};
        OK(cust_transaction_add_many(admin, cid, good, 2, ids));
        CHECK(ids[0] > 0 && ids[1] == ids[0] + 1);
        for (int i = 0; i < 3; i++) {
            cust_transaction_input_free(batch[i]);
        }
        for (int i = 0; i < 2; i++) {
            OK(cust_record_delete(admin, ids[i]));
        }
    }

    OK(cust_transaction_add(admin, cid, order, &record));
    cust_transaction_input_free(order);
    const uint64_t tid = cust_record_id(record);
    CHECK(tid > 0 && cust_record_customer(record) == cid && cust_record_version(record) == 1);
    CHECK(strcmp(cust_record_kind(record), "transaction") == 0 && !cust_record_overdue(record));
    CHECK(strcmp(record_text(record, "transaction.total", &shown), "290.00 CNY") == 0 && shown == CUST_SHOWN_PLAIN);
    CHECK(strcmp(record_text(record, "transaction.reference", NULL), "SO-2026-0001") == 0);
    CHECK(strcmp(record_text(record, "transaction.status", NULL), "paid") == 0);
    CHECK(strstr(record_text(record, "transaction.items", NULL), "龙井茶") != NULL);
    /* An administrator with MFA sees the stored form of the card. */
    CHECK(strcmp(record_text(record, "transaction.payment_details", &shown), "card:4111111111111111") == 0 &&
          shown == CUST_SHOWN_PLAIN);
    CHECK(strcmp(record_text(record, "service.subject", &shown), "") == 0 && shown == CUST_SHOWN_ABSENT);
    CHECK_STATUS(cust_record_field(record, "transaction.total", text, 4, &needed, NULL), CUST_STATUS_BUFFER_TOO_SMALL);
    CHECK(needed == strlen("290.00 CNY") + 1 && strlen(text) == 3);
    CHECK_STATUS(cust_record_field(record, "transaction.total", NULL, 0, &needed, NULL), CUST_STATUS_BUFFER_TOO_SMALL);
    CHECK_STATUS(cust_record_field(record, "no.such.field", text, sizeof text, NULL, NULL), CUST_STATUS_UNKNOWN_FIELD);
    CHECK_STATUS(cust_record_field(record, "name", text, sizeof text, NULL, NULL), CUST_STATUS_UNKNOWN_FIELD);
    CHECK_STATUS(cust_record_field(record, NULL, text, sizeof text, NULL, NULL), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_record_field(NULL, "transaction.total", text, sizeof text, NULL, NULL), CUST_STATUS_NULL_ARGUMENT);
    char *json = SENTINEL;
    OK(cust_record_to_json(record, &json));
    CHECK(strstr(json, "\"kind\":\"transaction\"") != NULL && strstr(json, "\"transaction.total\":\"290.00 CNY\"") != NULL);
    cust_string_free(json);
    OK(cust_record_history_json(record, &json));
    CHECK(strstr(json, "\"to\":\"paid\"") != NULL && strstr(json, "\"from\":null") != NULL);
    cust_string_free(json);
    CHECK_STATUS(cust_record_to_json(NULL, &json), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_record_history_json(record, NULL), CUST_STATUS_NULL_ARGUMENT);
    cust_record_free(record);

    /* Customer service sees the order, not how it was paid. */
    OK(cust_record_get(clerk, tid, &record));
    CHECK(strcmp(record_text(record, "transaction.total", NULL), "290.00 CNY") == 0);
    CHECK(strcmp(record_text(record, "transaction.payment_details", &shown), "") == 0 && shown == CUST_SHOWN_WITHHELD);
    /* Neither the card nor its masked form: "1111" alone could be part of a timestamp. */
    OK(cust_record_to_json(record, &json));
    CHECK(strstr(json, "\"withheld\":[\"transaction.payment_details\"]") != NULL && strstr(json, "4111111111111111") == NULL && strstr(json, "* 1111") == NULL);
    cust_string_free(json);
    cust_record_free(record);
    /* An administrator without MFA sees the card masked. */
    OK(cust_record_get(plain_admin, tid, &record));
    CHECK(strcmp(record_text(record, "transaction.payment_details", &shown), "**** **** **** 1111") == 0 &&
          shown == CUST_SHOWN_MASKED);
    cust_record_free(record);

    /* Transaction status: allowed changes, refused ones, stale versions. */
    record = SENTINEL;
    CHECK_STATUS(cust_transaction_set_status(admin, tid, 1, "pending", &record), CUST_STATUS_INVALID);
    CHECK(record == SENTINEL && strstr(last_error(), "transition_invalid") != NULL);
    CHECK_STATUS(cust_transaction_set_status(admin, tid, 1, "gone", &record), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_transaction_set_status(admin, tid, 7, "refunded", &record), CUST_STATUS_VERSION_CONFLICT);
    CHECK_STATUS(cust_transaction_set_status(admin, 999999, 1, "refunded", &record), CUST_STATUS_RECORD_NOT_FOUND);
    OK(cust_transaction_set_status(admin, tid, 1, "partially_refunded", &record));
    CHECK(cust_record_version(record) == 2 && strcmp(record_text(record, "transaction.status", NULL), "partially_refunded") == 0);
    OK(cust_record_history_json(record, &json));
    CHECK(strstr(json, "\"from\":\"paid\",\"to\":\"partially_refunded\"") != NULL);
    cust_string_free(json);
    cust_record_free(record);

    /* A complaint opened ten hours ago, due an hour ago: overdue. */
    cust_service_input *complaint = SENTINEL;
    CHECK_STATUS(cust_service_input_new("rant", "phone", "s", NULL, &complaint), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_service_input_new("complaint", "pigeon", "s", NULL, &complaint), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_service_input_new("complaint", "phone", NULL, NULL, &complaint), CUST_STATUS_NULL_ARGUMENT);
    CHECK(complaint == SENTINEL);
    OK(cust_service_input_new("complaint", "phone", "茶具破损", "收到的茶具有裂纹", &complaint));
    CHECK_STATUS(cust_service_input_set_priority(complaint, "whenever"), CUST_STATUS_INVALID);
    OK(cust_service_input_set_priority(complaint, "high"));
    OK(cust_service_input_set_owner(complaint, "clerk"));
    OK(cust_service_input_set_opened_at(complaint, now - 10 * 3600000LL));
    OK(cust_service_input_set_due_at(complaint, now - 3600000LL));
    CHECK_STATUS(cust_service_input_set_due_at(NULL, 1), CUST_STATUS_NULL_ARGUMENT);
    OK(cust_service_open(admin, cid, complaint, &record));
    cust_service_input_free(complaint);
    const uint64_t sid = cust_record_id(record);
    CHECK(strcmp(cust_record_kind(record), "service") == 0 && cust_record_overdue(record));
    CHECK(strcmp(record_text(record, "service.status", NULL), "open") == 0);
    CHECK(strcmp(record_text(record, "service.owner", NULL), "clerk") == 0);
    CHECK(strcmp(record_text(record, "service.priority", NULL), "high") == 0);
    cust_record_free(record);
    /* A due time before the opening is refused. */
    cust_service_input *question = NULL;
    OK(cust_service_input_new("consultation", "web", "保修期多久", NULL, &question));
    OK(cust_service_input_set_opened_at(question, now - 3600000LL));
    OK(cust_service_input_set_due_at(question, now - 7200000LL));
    record = SENTINEL;
    CHECK_STATUS(cust_service_open(admin, cid, question, &record), CUST_STATUS_INVALID);
    CHECK(record == SENTINEL && strstr(last_error(), "due_before_opening") != NULL);
    OK(cust_service_input_set_due_at(question, now + 48 * 3600000LL));
    OK(cust_service_input_set_owner(question, NULL));
    OK(cust_service_open(clerk, cid, question, &record));
    cust_service_input_free(question);
    const uint64_t qid = cust_record_id(record);
    CHECK(!cust_record_overdue(record));
    cust_record_free(record);

    /* The overdue query, and the one for what falls due soon. */
    cust_record_list *due = SENTINEL;
    OK(cust_service_due(clerk, 0, NULL, 10, 0, &due));
    CHECK(cust_record_list_len(due) == 1 && cust_record_list_next(due) == 0);
    const cust_record *borrowed = NULL;
    OK(cust_record_list_get(due, 0, &borrowed));
    CHECK(cust_record_id(borrowed) == sid && cust_record_overdue(borrowed));
    CHECK_STATUS(cust_record_list_get(due, 1, &borrowed), CUST_STATUS_INVALID_ARGUMENT);
    cust_record_list_free(due);
    OK(cust_service_due(clerk, 0, "admin", 10, 0, &due));
    CHECK(cust_record_list_len(due) == 0);
    cust_record_list_free(due);
    OK(cust_service_due(clerk, 72, NULL, 10, 0, &due));
    CHECK(cust_record_list_len(due) == 1);
    OK(cust_record_list_get(due, 0, &borrowed));
    CHECK(cust_record_id(borrowed) == qid);
    cust_record_list_free(due);
    due = SENTINEL;
    CHECK_STATUS(cust_service_due(clerk, 0, NULL, 0, 0, &due), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_service_due(clerk, 9000, NULL, 10, 0, &due), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_service_due(clerk, 0, NULL, 10, tid, &due), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(due == SENTINEL);

    /* Service transitions: a resolution is required, a bad move refused. */
    CHECK_STATUS(cust_service_transition(clerk, sid, 1, "resolved", NULL, &record), CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "resolution_required") != NULL);
    CHECK_STATUS(cust_service_transition(clerk, sid, 1, "reopened", NULL, &record), CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "transition_invalid") != NULL);
    CHECK_STATUS(cust_service_transition(clerk, sid, 1, "asleep", NULL, &record), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_service_transition(clerk, tid, 2, "closed", "x", &record), CUST_STATUS_INVALID);
    OK(cust_service_transition(clerk, sid, 1, "in_progress", NULL, &record));
    CHECK(cust_record_version(record) == 2);
    cust_record_free(record);
    CHECK_STATUS(cust_service_assign(clerk, sid, 2, "ghost", &record), CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "owner_unknown") != NULL);
    OK(cust_service_assign(clerk, sid, 2, "admin", &record));
    CHECK(strcmp(record_text(record, "service.owner", NULL), "admin") == 0);
    cust_record_free(record);
    OK(cust_service_transition(clerk, sid, 3, "resolved", "换货一套", &record));
    CHECK(!cust_record_overdue(record) && strcmp(record_text(record, "service.resolution", NULL), "换货一套") == 0);
    OK(cust_record_history_json(record, &json));
    CHECK(strstr(json, "\"from\":\"in_progress\",\"to\":\"resolved\"") != NULL);
    cust_string_free(json);
    cust_record_free(record);
    OK(cust_service_due(clerk, 0, NULL, 10, 0, &due));
    CHECK(cust_record_list_len(due) == 0);
    cust_record_list_free(due);

    /* Patches as JSON: set and clear; bad JSON, fields and values refused. */
    record = SENTINEL;
    CHECK_STATUS(cust_record_update_json(clerk, qid, 1, "[1]", &record), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_record_update_json(clerk, qid, 1, "{", &record), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_record_update_json(clerk, qid, 1, "{\"service.nope\":\"x\"}", &record), CUST_STATUS_UNKNOWN_FIELD);
    CHECK_STATUS(cust_record_update_json(clerk, qid, 1, "{\"service.subject\":1}", &record), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_record_update_json(clerk, qid, 1, "{}", &record), CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "empty_patch") != NULL);
    CHECK_STATUS(cust_record_update_json(clerk, qid, 1, "{\"transaction.reference\":\"x\"}", &record), CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "record_field_kind") != NULL);
    CHECK_STATUS(cust_record_update_json(clerk, qid, 9, "{\"service.priority\":\"high\"}", &record), CUST_STATUS_VERSION_CONFLICT);
    CHECK(record == SENTINEL);
    OK(cust_record_update_json(clerk, qid, 1, "{\"service.priority\":\"urgent\",\"service.description\":null}", &record));
    CHECK(cust_record_version(record) == 2 && strcmp(record_text(record, "service.priority", NULL), "urgent") == 0);
    CHECK(strcmp(record_text(record, "service.description", &shown), "") == 0 && shown == CUST_SHOWN_ABSENT);
    cust_record_free(record);
    OK(cust_record_rectify_json(clerk, qid, 2, "{\"service.subject\":\"保修期是多久\"}", "DSR-2026-7", &record));
    CHECK(strcmp(record_text(record, "service.subject", NULL), "保修期是多久") == 0);
    cust_record_free(record);
    CHECK_STATUS(cust_record_rectify_json(clerk, qid, 3, "{\"service.subject\":\"x\"}", NULL, &record), CUST_STATUS_NULL_ARGUMENT);
    /* Payment details by patch: customer service may not write them. */
    CHECK_STATUS(cust_record_update_json(clerk, tid, 2, "{\"transaction.payment_details\":\"5555555555554444\"}", &record),
                 CUST_STATUS_DENIED);
    OK(cust_record_update_json(admin, tid, 2, "{\"transaction.payment_details\":\"5555555555554444\"}", &record));
    cust_record_free(record);
    OK(cust_record_get(plain_admin, tid, &record));
    CHECK(strcmp(record_text(record, "transaction.payment_details", NULL), "**** **** **** 4444") == 0);
    cust_record_free(record);

    /* The timeline, paged. */
    cust_record_list *page = NULL;
    OK(cust_customer_timeline(clerk, cid, 2, 0, &page));
    CHECK(cust_record_list_len(page) == 2 && cust_record_list_next(page) != 0);
    const uint64_t next = cust_record_list_next(page);
    cust_record_list_free(page);
    OK(cust_customer_timeline(clerk, cid, 2, next, &page));
    CHECK(cust_record_list_len(page) == 1 && cust_record_list_next(page) == 0);
    cust_record_list_free(page);
    page = SENTINEL;
    CHECK_STATUS(cust_customer_timeline(clerk, cid, 0, 0, &page), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_customer_timeline(clerk, 424242, 10, 0, &page), CUST_STATUS_NOT_FOUND);
    CHECK_STATUS(cust_customer_timeline(clerk, cid, 10, 999999, &page), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_customer_timeline(NULL, cid, 10, 0, &page), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_customer_timeline(clerk, cid, 10, 0, NULL), CUST_STATUS_NULL_ARGUMENT);
    CHECK(page == SENTINEL);

    /* Deleting, and records that are not there. */
    CHECK_STATUS(cust_record_delete(clerk, qid), CUST_STATUS_DENIED);
    OK(cust_record_delete(admin, qid));
    record = SENTINEL;
    CHECK_STATUS(cust_record_get(admin, qid, &record), CUST_STATUS_RECORD_NOT_FOUND);
    CHECK(record == SENTINEL && strstr(last_error(), "not found") != NULL);
    CHECK_STATUS(cust_record_delete(admin, qid), CUST_STATUS_RECORD_NOT_FOUND);
    CHECK_STATUS(cust_record_get(admin, 999999, &record), CUST_STATUS_RECORD_NOT_FOUND);
    CHECK_STATUS(cust_record_update_json(admin, 999999, 1, "{\"service.subject\":\"x\"}", &record),
                 CUST_STATUS_RECORD_NOT_FOUND);
    CHECK_STATUS(cust_record_get(admin, tid, NULL), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_record_delete(NULL, tid), CUST_STATUS_NULL_ARGUMENT);
    CHECK(record == SENTINEL);

    /* NULL handles: accessors give 0/empty, frees ignore them. */
    CHECK(cust_record_id(NULL) == 0 && cust_record_customer(NULL) == 0 && cust_record_version(NULL) == 0);
    CHECK(!cust_record_overdue(NULL) && strcmp(cust_record_kind(NULL), "") == 0);
    CHECK(cust_record_list_len(NULL) == 0 && cust_record_list_next(NULL) == 0);
    CHECK_STATUS(cust_record_list_get(NULL, 0, &borrowed), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_service_open(admin, cid, NULL, &record), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_service_assign(admin, sid, 1, NULL, &record), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_service_transition(admin, sid, 1, NULL, NULL, &record), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_service_input_set_priority(NULL, "low"), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_service_input_set_owner(NULL, "clerk"), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_service_input_set_opened_at(NULL, 1), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_transaction_input_set_status(NULL, "paid"), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_transaction_input_set_time(NULL, 1), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_transaction_input_set_card(NULL, "4111111111111111"), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_transaction_input_set_bank_account(NULL, "6222020200112233"), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_transaction_input_add_adjustment(NULL, "x", 1), CUST_STATUS_NULL_ARGUMENT);
    CHECK(record == SENTINEL);
    cust_record_free(NULL);
    cust_record_list_free(NULL);
    cust_transaction_input_free(NULL);
    cust_service_input_free(NULL);

    /* A bank transfer keeps its account, masked to an administrator without MFA. */
    OK(cust_transaction_input_new("SO-2026-0003", "CNY", 5000, "bank_transfer", &order));
    OK(cust_transaction_input_add_item(order, "茶叶", 1, 5000));
    OK(cust_transaction_input_set_bank_account(order, "6222020200112233"));
    OK(cust_transaction_add(admin, cid, order, &record));
    cust_transaction_input_free(order);
    const uint64_t bid = cust_record_id(record);
    cust_record_free(record);
    OK(cust_record_get(plain_admin, bid, &record));
    CHECK(strstr(record_text(record, "transaction.payment_details", &shown), "2233") != NULL && shown == CUST_SHOWN_MASKED);
    CHECK(strstr(record_text(record, "transaction.payment_details", NULL), "62220202") == NULL);
    cust_record_free(record);

    cust_session_close(admin);
    cust_session_close(plain_admin);
    cust_session_close(clerk);
    cust_store_close(store);
}

/* The service-level policy: set on the store before any session, refused after. */
static void test_service_levels(const char *dir) {
    cust_store *store = provisioned(dir, "service-levels");
    const int64_t now = (int64_t)time(NULL) * 1000;
    CHECK_STATUS(cust_store_set_service_hours(store, "rant", "normal", 6), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_store_set_service_hours(store, "complaint", "whenever", 6), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_store_set_service_hours(store, "complaint", "normal", 0), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_store_set_service_hours(NULL, "complaint", "normal", 6), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_store_set_service_hours(store, NULL, "normal", 6), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_store_set_reopen_days(NULL, 0), CUST_STATUS_NULL_ARGUMENT);
    OK(cust_store_set_service_hours(store, "complaint", "normal", 6));
    OK(cust_store_set_reopen_days(store, 0));
    cust_session *admin = NULL;
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    CHECK_STATUS(cust_store_set_service_hours(store, "complaint", "normal", 7), CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "store_shared") != NULL);
    cust_input *person_input = person("KH950", "钱七", "13900000950");
    cust_customer *customer = NULL;
    OK(cust_customer_create(admin, person_input, &customer));
    cust_input_free(person_input);
    const int64_t cid = cust_customer_id(customer);
    cust_customer_free(customer);
    cust_service_input *complaint = NULL;
    OK(cust_service_input_new("complaint", "phone", "物流投诉", NULL, &complaint));
    OK(cust_service_input_set_opened_at(complaint, now - 3600000));
    cust_record *record = NULL;
    OK(cust_service_open(admin, cid, complaint, &record));
    cust_service_input_free(complaint);
    char expected[32];
    snprintf(expected, sizeof expected, "%lld", (long long)(now - 3600000 + 6 * 3600000));
    CHECK(strcmp(record_text(record, "service.due_at", NULL), expected) == 0);
    const uint64_t sid = cust_record_id(record);
    cust_record_free(record);
    OK(cust_service_transition(admin, sid, 1, "closed", "已处理", &record));
    cust_record_free(record);
    /* Reopening is allowed for 0 days after closing: not at all. */
    CHECK_STATUS(cust_service_transition(admin, sid, 2, "reopened", NULL, &record), CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "reopen_expired") != NULL);
    cust_session_close(admin);
    cust_store_close(store);
}

/* Counts progress reports of a CSV import. */
static void count_progress(void *user, uint64_t rows, uint64_t bytes) {
    (void)bytes;
    uint64_t *last = user;
    *last = rows;
}

/* CSV in and out. */
static void test_csv(const char *dir) {
    cust_store *store = provisioned(dir, "csv");
    cust_session *admin = NULL, *clerk = NULL;
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    OK(cust_session_open(store, "clerk", "service", false, 0, &clerk));
    const char *sheet = "编号,姓名,手机,身份证号\r\nKH001,王五,13812345678,110101199003078515\r\n"
                        "KH002,李四,not-a-mobile,\r\n";
    cust_import_report *report = SENTINEL;
    uint64_t last = 0;
    CHECK_STATUS(cust_import_csv(admin, (const uint8_t *)sheet, strlen(sheet), "latin-1", false, false, NULL, NULL, &report),
                 CUST_STATUS_INVALID);
    CHECK(report == SENTINEL);
    CHECK_STATUS(cust_import_csv(admin, (const uint8_t *)sheet, strlen(sheet), NULL, false, false, NULL, NULL, NULL),
                 CUST_STATUS_NULL_ARGUMENT);
    OK(cust_import_csv(admin, (const uint8_t *)sheet, strlen(sheet), NULL, false, false, count_progress, &last, &report));
    CHECK(last == 2 && cust_import_report_len(report) == 2 && cust_import_report_rejected_len(report) == 0);
    size_t slot = 0;
    bool verified = true;
    OK(cust_import_report_row(report, 1, &slot, NULL, &verified, NULL));
    CHECK(slot == 3 && !verified);
    cust_import_report_free(report);
    /* Again: both rows matched by 编号, nothing doubled. */
    OK(cust_import_csv(admin, (const uint8_t *)sheet, strlen(sheet), "utf-8", false, false, NULL, NULL, &report));
    CHECK(cust_import_report_len(report) == 0 && cust_import_report_matched_len(report) == 2);
    cust_import_report_free(report);
    /* With reject_invalid a new bad row is left out and reported. */
    const char *bad = "编号,姓名,手机\r\nKH010,钱七,13700000010\r\nKH011,孙八,12345\r\n";
    OK(cust_import_csv(admin, (const uint8_t *)bad, strlen(bad), "utf-8", true, false, NULL, NULL, &report));
    CHECK(cust_import_report_len(report) == 1 && cust_import_report_rejected_len(report) == 1);
    size_t problems = 0;
    OK(cust_import_report_rejected(report, 0, &slot, &problems));
    CHECK(slot == 3 && problems == 1);
    char text[256];
    OK(cust_import_report_rejected_problem(report, 0, 0, text, sizeof text, NULL));
    CHECK(strstr(text, "mobile_format") != NULL && strstr(text, "not-a-mobile") == NULL);
    CHECK_STATUS(cust_import_report_rejected(report, 1, &slot, &problems), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_import_report_rejected_problem(report, 0, 5, text, sizeof text, NULL), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(cust_import_report_rejected_len(NULL) == 0);
    cust_import_report_free(report);
    /* A file: streamed; a missing one is a storage error. */
    char path[512];
    path_in(path, sizeof path, dir, "csv-in.csv");
    FILE *f = fopen(path, "wb");
    fputs("姓名,手机\r\n赵六,13700000001\r\n", f);
    fclose(f);
    OK(cust_import_csv_file(admin, path, "auto", false, false, NULL, NULL, &report));
    CHECK(cust_import_report_len(report) == 1);
    cust_import_report_free(report);
    path_in(path, sizeof path, dir, "no-such.csv");
    CHECK_STATUS(cust_import_csv_file(admin, path, NULL, false, false, NULL, NULL, &report), CUST_STATUS_STORAGE);
    CHECK_STATUS(cust_import_csv(admin, (const uint8_t *)"name,shoe\r\n", 12, NULL, false, false, NULL, NULL, &report),
                 CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "csv_unknown_column") != NULL);
    /* Export: what the clerk sees, masked; to a buffer and to a new file. */
    uint8_t *bytes = SENTINEL;
    size_t len = 0;
    uint64_t rows = 0;
    OK(cust_export_csv(clerk, "name,id_number", NULL, false, NULL, NULL, NULL, NULL, &rows, &bytes, &len));
    CHECK(rows == 4 && len > 0);
    const char *expected = "name,id_number\r\n王五,1101**********8515\r\n";
    CHECK(len >= strlen(expected) && memcmp(bytes, expected, strlen(expected)) == 0);
    cust_bytes_free(bytes, len);
    CHECK_STATUS(cust_export_csv(clerk, "name,nonsense", NULL, false, NULL, NULL, NULL, NULL, NULL, &bytes, &len),
                 CUST_STATUS_UNKNOWN_FIELD);
    CHECK_STATUS(cust_export_csv(clerk, NULL, "latin-1", false, NULL, NULL, NULL, NULL, NULL, &bytes, &len),
                 CUST_STATUS_INVALID);
    CHECK_STATUS(cust_export_csv(clerk, NULL, NULL, false, NULL, NULL, NULL, NULL, NULL, NULL, &len),
                 CUST_STATUS_NULL_ARGUMENT);
    OK(cust_export_csv(admin, "name", NULL, false, "organisation", NULL, NULL, NULL, &rows, &bytes, &len));
    CHECK(rows == 0 && len == strlen("name\r\n"));
    cust_bytes_free(bytes, len);
    path_in(path, sizeof path, dir, "csv-out.csv");
    OK(cust_export_csv_file(admin, path, NULL, "gbk", true, NULL, NULL, NULL, NULL, &rows));
    CHECK(rows == 4);
    CHECK_STATUS(cust_export_csv_file(admin, path, NULL, "gbk", true, NULL, NULL, NULL, NULL, &rows), CUST_STATUS_STORAGE);
    cust_session_close(clerk);
    cust_session_close(admin);
    cust_store_close(store);
}

/* Counts are equal, field by field. */
static int counts_are(const cust_import_counts *c, uint64_t created, uint64_t verified, uint64_t already_present,
                      uint64_t conflicts, uint64_t updated, uint64_t rejected) {
    return c->created == created && c->verified == verified && c->already_present == already_present &&
           c->conflicts == conflicts && c->updated == updated && c->rejected == rejected;
}

/* A CSV import whose options come as JSON: with problems_only the report
 * lists the rows to look at and counts every row; bad options import nothing. */
static void test_csv_problems_only(const char *dir) {
    cust_store *store = provisioned(dir, "csv-problems");
    cust_session *admin = NULL;
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    /* Rows 2-3 good; 4 an invalid mobile; 5 repeats row 2's code; 6 repeats row 3's mobile. */
    const char *sheet = "编号,姓名,单位,类别,职务,手机,邮箱,备注\r\n"
                        "KH001,王五,星辰科技,零售,经理,13812345678,w@example.com,\r\n"
                        "KH002,李四,星辰科技,零售,,13912345678,,\r\n"
                        "KH003,张三,,,,not-a-mobile,,\r\n"
                        "KH001,赵六,,,,13712345678,,\r\n"
                        "KH004,钱七,,,,13912345678,,\r\n";
    const uint8_t *data = (const uint8_t *)sheet;
    const size_t len = strlen(sheet);
    cust_import_report *report = SENTINEL;

    /* Options refused before anything is read: an unknown key, a wrong type, not an object, bad JSON,
     * an unknown encoding; nothing imported. */
    const char *refused[] = {"{\"problems_only\": true, \"shoe_size\": 42}", "{\"problems_only\": \"yes\"}",
                             "{\"encoding\": 8}", "[true]", "{\"problems_only\": tru", "{\"encoding\": \"latin-1\"}"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        CHECK_STATUS(cust_import_csv_with(admin, data, len, refused[i], NULL, NULL, &report), CUST_STATUS_INVALID);
        CHECK(report == SENTINEL);
    }
    CHECK_STATUS(cust_import_csv_with(admin, data, len, refused[0], NULL, NULL, &report), CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "shoe_size") != NULL);
    char path[512];
    path_in(path, sizeof path, dir, "no-such.csv");
    CHECK_STATUS(cust_import_csv_file_with(admin, path, refused[0], NULL, NULL, &report), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_import_csv_with(NULL, data, len, NULL, NULL, NULL, &report), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_import_csv_with(admin, NULL, len, NULL, NULL, NULL, &report), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_import_csv_with(admin, data, len, NULL, NULL, NULL, NULL), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_import_csv_file_with(admin, NULL, NULL, NULL, NULL, &report), CUST_STATUS_NULL_ARGUMENT);
    CHECK(report == SENTINEL);
    cust_list *list = NULL;
    OK(cust_customer_list(admin, CUST_FIELD_NAME, false, 0, 10, &list));
    CHECK(cust_list_total(list) == 0);
    cust_list_free(list);

    /* Only the rows with something to say are listed; every row is counted. */
    uint64_t last = 0;
    OK(cust_import_csv_with(admin, data, len, "{\"problems_only\":true}", count_progress, &last, &report));
    CHECK(last == 5);
    cust_import_counts counts;
    memset(&counts, 0xff, sizeof counts);
    OK(cust_import_report_counts(report, &counts));
    CHECK(counts_are(&counts, 5, 3, 0, 0, 0, 0)); /* the invalid row and the one without its code unverified */
    CHECK(cust_import_report_len(report) == 3 && cust_import_report_matched_len(report) == 0);
    CHECK(cust_import_report_rejected_len(report) == 0);
    const size_t rows[] = {4, 5, 6};
    const bool verified_rows[] = {false, false, true};
    const char *rules[] = {"(mobile_format)", "(duplicate_code)", "(duplicate_mobile)"};
    char text[256];
    for (size_t i = 0; i < 3; i++) {
        size_t slot = 0, problems = 0;
        bool verified = !verified_rows[i];
        OK(cust_import_report_row(report, i, &slot, NULL, &verified, &problems));
        CHECK(slot == rows[i] && verified == verified_rows[i] && problems == 1);
        OK(cust_import_report_problem(report, i, 0, text, sizeof text, NULL));
        CHECK(strstr(text, rules[i]) != NULL);
    }
    OK(cust_import_report_problem(report, 2, 0, text, sizeof text, NULL));
    CHECK(strstr(text, "row 3 (customer") != NULL && strstr(text, "13912345678") == NULL);
    /* Counts go out only on success, and need both a report and somewhere to go. */
    cust_import_counts untouched;
    memset(&untouched, 0xff, sizeof untouched);
    CHECK_STATUS(cust_import_report_counts(NULL, &untouched), CUST_STATUS_NULL_ARGUMENT);
    CHECK(untouched.created == UINT64_MAX && untouched.rejected == UINT64_MAX);
    CHECK_STATUS(cust_import_report_counts(report, NULL), CUST_STATUS_NULL_ARGUMENT);
    cust_import_report_free(report);

    /* Again: every row matched; only the conflict is listed (row 5 was stored without its code, so its
     * 编号 now matches row 2's customer with other values). */
    OK(cust_import_csv_with(admin, data, len, "{\"problems_only\": true, \"encoding\": \"utf-8\"}", NULL, NULL,
                            &report));
    OK(cust_import_report_counts(report, &counts));
    CHECK(counts_are(&counts, 0, 0, 4, 1, 0, 0));
    CHECK(cust_import_report_len(report) == 0 && cust_import_report_matched_len(report) == 1);
    size_t slot = 0;
    uint32_t outcome = 99;
    OK(cust_import_report_matched(report, 0, &slot, NULL, &outcome, text, sizeof text, NULL));
    CHECK(slot == 5 && outcome == CUST_MATCH_CONFLICT && strstr(text, "name") != NULL);
    cust_import_report_free(report);
    OK(cust_customer_list(admin, CUST_FIELD_NAME, false, 0, 10, &list));
    CHECK(cust_list_total(list) == 5);
    cust_list_free(list);
    cust_session_close(admin);
    cust_store_close(store);

    /* NULL options are the defaults: the full report, with the same counts; a file likewise. */
    store = provisioned(dir, "csv-problems-full");
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    OK(cust_import_csv_with(admin, data, len, NULL, NULL, NULL, &report));
    CHECK(cust_import_report_len(report) == 5 && cust_import_report_matched_len(report) == 0);
    OK(cust_import_report_counts(report, &counts));
    CHECK(counts_are(&counts, 5, 3, 0, 0, 0, 0));
    cust_import_report_free(report);
    path_in(path, sizeof path, dir, "csv-problems.csv");
    FILE *f = fopen(path, "wb");
    fputs(sheet, f);
    fclose(f);
    OK(cust_import_csv_file_with(admin, path, "{}", NULL, NULL, &report));
    CHECK(cust_import_report_len(report) == 0 && cust_import_report_matched_len(report) == 5);
    OK(cust_import_report_counts(report, &counts));
    CHECK(counts_are(&counts, 0, 0, 4, 1, 0, 0));
    cust_import_report_free(report);
    /* An update is listed; the rows already present are only counted. */
    const char *renamed = "编号,姓名,单位,类别,职务,手机,邮箱,备注\r\n"
                          "KH001,王五,星辰科技,零售,经理,13812345678,w@example.com,\r\n"
                          "KH002,李小四,星辰科技,零售,,13912345678,,\r\n";
    OK(cust_import_csv_with(admin, (const uint8_t *)renamed, strlen(renamed),
                            "{\"problems_only\": true, \"update_existing\": true}", NULL, NULL, &report));
    CHECK(cust_import_report_len(report) == 0 && cust_import_report_matched_len(report) == 1);
    OK(cust_import_report_counts(report, &counts));
    CHECK(counts_are(&counts, 0, 0, 1, 0, 1, 0));
    OK(cust_import_report_matched(report, 0, &slot, NULL, &outcome, text, sizeof text, NULL));
    CHECK(slot == 3 && outcome == CUST_MATCH_UPDATED && strcmp(text, "name") == 0);
    cust_import_report_free(report);
    /* The flag functions count too; rejected rows are always listed. */
    const char *bad = "编号,姓名,手机\r\nKH010,钱七,13700000010\r\nKH011,孙八,12345\r\n";
    OK(cust_import_csv_with(admin, (const uint8_t *)bad, strlen(bad), "{\"reject_invalid\": true, \"problems_only\": true}",
                            NULL, NULL, &report));
    CHECK(cust_import_report_len(report) == 0 && cust_import_report_rejected_len(report) == 1);
    OK(cust_import_report_counts(report, &counts));
    CHECK(counts_are(&counts, 1, 1, 0, 0, 0, 1));
    cust_import_report_free(report);
    OK(cust_import_csv(admin, (const uint8_t *)bad, strlen(bad), NULL, true, false, NULL, NULL, &report));
    CHECK(cust_import_report_matched_len(report) == 1 && cust_import_report_rejected_len(report) == 1);
    OK(cust_import_report_counts(report, &counts));
    CHECK(counts_are(&counts, 0, 0, 1, 0, 0, 1));
    cust_import_report_free(report);
    cust_session_close(admin);
    cust_store_close(store);
}

/* Possible duplicates: the report and a create that refuses or warns. */
static void test_duplicates(const char *dir) {
    cust_store *store = provisioned(dir, "duplicates");
    cust_session *admin = NULL;
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    cust_input *one = person("KH960", "王五", "13812345678");
    cust_customer *customer = NULL;
    OK(cust_customer_create(admin, one, &customer));
    const int64_t first = cust_customer_id(customer);
    cust_customer_free(customer);
    cust_input_free(one);
    cust_input *twin = person("KH961", "王小五", "138-1234-5678");
    char *json = SENTINEL;
    customer = SENTINEL;
    CHECK_STATUS(cust_customer_create_checked(admin, twin, "refuse", &json, &customer), CUST_STATUS_INVALID);
    CHECK(customer == SENTINEL && json == SENTINEL && strstr(last_error(), "possible_duplicate") != NULL);
    CHECK(strstr(last_error(), "13812345678") == NULL);
    CHECK_STATUS(cust_customer_create_checked(admin, twin, "maybe", &json, &customer), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_customer_create_checked(admin, twin, NULL, &json, &customer), CUST_STATUS_NULL_ARGUMENT);
    OK(cust_customer_create_checked(admin, twin, "warn", &json, &customer));
    char expected[64];
    snprintf(expected, sizeof expected, "\"first\":%lld", (long long)first);
    CHECK(strstr(json, expected) != NULL && strstr(json, "same_mobile") != NULL);
    cust_string_free(json);
    cust_customer_free(customer);
    cust_input_free(twin);
    OK(cust_duplicates_json(admin, 10, &json));
    CHECK(strstr(json, "\"pairs\":[{") != NULL && strstr(json, "\"truncated\":false") != NULL);
    cust_string_free(json);
    CHECK_STATUS(cust_duplicates_json(admin, 0, &json), CUST_STATUS_INVALID_ARGUMENT);
    OK(cust_data_quality_json(admin, &json));
    CHECK(strstr(json, "\"total\":{\"customers\":2,") != NULL && strstr(json, "\"possible_duplicates\":2") != NULL);
    CHECK(strstr(json, "13812345678") == NULL);
    cust_string_free(json);
    CHECK_STATUS(cust_data_quality_json(admin, NULL), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_duplicates_json(admin, 10, NULL), CUST_STATUS_NULL_ARGUMENT);
    cust_session_close(admin);
    cust_store_close(store);
}

/* Four-eyes verification: whoever entered a customer may not verify it. */
static void test_four_eyes(const char *dir) {
    cust_store *store = provisioned(dir, "four-eyes");
    CHECK_STATUS(cust_store_set_four_eyes(NULL, true), CUST_STATUS_NULL_ARGUMENT);
    OK(cust_store_set_four_eyes(store, true));
    cust_session *clerk = NULL, *admin = NULL;
    OK(cust_session_open(store, "clerk", "service", false, 0, &clerk));
    CHECK_STATUS(cust_store_set_four_eyes(store, false), CUST_STATUS_INVALID);
    cust_input *in = person("KH970", "王五", "13812345678");
    cust_customer *customer = NULL;
    OK(cust_customer_create(clerk, in, &customer));
    const int64_t id = cust_customer_id(customer);
    cust_customer_free(customer);
    cust_input_free(in);
    CHECK_STATUS(cust_customer_verify(clerk, id, 1), CUST_STATUS_DENIED);
    CHECK(strstr(last_error(), "verify.four_eyes") != NULL);
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    OK(cust_customer_verify(admin, id, 1));
    cust_session_close(admin);
    cust_session_close(clerk);
    cust_store_close(store);
}

/* Merging a duplicate into its survivor: a value taken from the duplicate,
 * its record and consent moved, its id gone (its history found through the
 * survivor), and merges refused for bad options, a hold and a clerk. */
static void test_merge(const char *dir) {
    const cust_status N = CUST_STATUS_NULL_ARGUMENT;
    cust_store *store = provisioned(dir, "merge");
    cust_session *admin = NULL, *compliance = NULL, *clerk = NULL;
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    OK(cust_session_open(store, "admin", "compliance", true, 0, &compliance));
    OK(cust_session_open(store, "clerk", "service", false, 0, &clerk));
    cust_customer *customer = NULL;
    cust_input *in = person("KH980", "王五", "13812345678");
    OK(cust_customer_create(admin, in, &customer));
    const int64_t keep = cust_customer_id(customer);
    const uint64_t keep_version = cust_customer_version(customer);
    cust_customer_free(customer);
    cust_input_free(in);
    in = person("KH981", "王 五", "13912345678");
    OK(cust_input_set(in, CUST_FIELD_EMAIL, "wangwu@example.com"));
    OK(cust_customer_create(admin, in, &customer));
    const int64_t dup = cust_customer_id(customer);
    const uint64_t dup_version = cust_customer_version(customer);
    cust_customer_free(customer);
    cust_input_free(in);
    cust_transaction_input *order = NULL;
    OK(cust_transaction_input_new("SO-MERGE-1", "CNY", 1000, "cash", &order));
    OK(cust_transaction_input_add_item(order, "茶", 2, 500));
    cust_record *record = NULL;
    OK(cust_transaction_add(admin, dup, order, &record));
    const uint64_t record_id = cust_record_id(record);
    cust_record_free(record);
    cust_transaction_input_free(order);
    OK(cust_consent_record(admin, dup, "marketing", "sms", true, "counter", "v1"));

    /* Refusals leave the outputs and both customers as they were. */
    const char *options = "{\"reference\": \"ticket-1\", \"take\": {\"mobile\": \"merged\"}}";
    char *report = SENTINEL;
    customer = SENTINEL;
    CHECK_STATUS(cust_customer_merge(admin, keep, keep_version, dup, dup_version, "{\"reference\": \"t\",", &report,
                                     &customer),
                 CUST_STATUS_INVALID);
    CHECK(customer == SENTINEL && report == SENTINEL);
    CHECK(strstr(last_error(), "invalid merge options JSON") != NULL);
    CHECK_STATUS(cust_customer_merge(admin, keep, keep_version, dup, dup_version,
                                     "{\"reference\": \"t\", \"carry\": true}", &report, &customer),
                 CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "invalid merge options JSON") != NULL && strstr(last_error(), "carry") != NULL);
    CHECK_STATUS(cust_customer_merge(admin, keep, keep_version, dup, dup_version, "{\"take\": {}}", &report, &customer),
                 CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "reference") != NULL);
    CHECK_STATUS(cust_customer_merge(admin, keep, keep_version, dup, dup_version,
                                     "{\"reference\": \"t\", \"take\": {\"mobile\": \"both\"}}", &report, &customer),
                 CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "merge_side") != NULL);
    CHECK_STATUS(cust_customer_merge(admin, keep, keep_version, dup, dup_version,
                                     "{\"reference\": \"t\", \"take\": {\"status\": \"merged\"}}", &report, &customer),
                 CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "read_only") != NULL);
    CHECK_STATUS(cust_customer_merge(admin, keep, keep_version, dup, dup_version, "{\"reference\": \"\"}", &report,
                                     &customer),
                 CUST_STATUS_INVALID);
    CHECK_STATUS(cust_customer_merge(admin, keep, keep_version, keep, keep_version, options, &report, &customer),
                 CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "merge_self") != NULL);
    CHECK_STATUS(cust_customer_merge(admin, keep, keep_version + 1, dup, dup_version, options, &report, &customer),
                 CUST_STATUS_VERSION_CONFLICT);
    CHECK_STATUS(cust_customer_merge(admin, keep, keep_version, 424242, 1, options, &report, &customer),
                 CUST_STATUS_NOT_FOUND);
    CHECK_STATUS(cust_customer_merge(clerk, keep, keep_version, dup, dup_version, options, &report, &customer),
                 CUST_STATUS_DENIED);
    OK(cust_customer_place_hold(compliance, dup, "case-9"));
    CHECK_STATUS(cust_customer_merge(compliance, keep, keep_version, dup, dup_version, options, &report, &customer),
                 CUST_STATUS_LEGAL_HOLD);
    CHECK(strstr(last_error(), "case-9") != NULL);
    OK(cust_customer_lift_hold(compliance, dup));
    CHECK_STATUS(cust_customer_merge(NULL, keep, keep_version, dup, dup_version, options, &report, &customer), N);
    CHECK_STATUS(cust_customer_merge(admin, keep, keep_version, dup, dup_version, NULL, &report, &customer), N);
    CHECK_STATUS(cust_customer_merge(admin, keep, keep_version, dup, dup_version, options, &report, NULL), N);
    CHECK_STATUS(cust_customer_merge(admin, keep, keep_version, dup, dup_version, BAD_UTF8, &report, &customer),
                 CUST_STATUS_INVALID_UTF8);
    CHECK(customer == SENTINEL && report == SENTINEL);
    OK(cust_customer_get(admin, dup, &customer));
    CHECK(cust_customer_version(customer) == dup_version);
    cust_customer_free(customer);

    /* The merge: the duplicate's mobile chosen, its e-mail filling an empty field. */
    OK(cust_customer_merge(admin, keep, keep_version, dup, dup_version, options, &report, &customer));
    char text[256], expected[64];
    CHECK(cust_customer_id(customer) == keep && cust_customer_version(customer) == keep_version + 1);
    OK(cust_customer_field(customer, CUST_FIELD_EXTERNAL_CODE, text, sizeof text, NULL, NULL));
    CHECK(strcmp(text, "KH980") == 0);
    OK(cust_customer_field(customer, CUST_FIELD_NAME, text, sizeof text, NULL, NULL));
    CHECK(strcmp(text, "王五") == 0);
    OK(cust_customer_field(customer, CUST_FIELD_MOBILE, text, sizeof text, NULL, NULL));
    CHECK(strcmp(text, "13912345678") == 0);
    OK(cust_customer_field(customer, CUST_FIELD_EMAIL, text, sizeof text, NULL, NULL));
    CHECK(strcmp(text, "wangwu@example.com") == 0);
    cust_customer_free(customer);
    snprintf(expected, sizeof expected, "\"survivor\":%lld,\"merged\":%lld", (long long)keep, (long long)dup);
    CHECK(strstr(report, expected) != NULL);
    /* Names only (in field order): the report carries no value. */
    CHECK(strstr(report, "\"fields_changed\":[\"mobile\",\"email\"]") != NULL);
    snprintf(expected, sizeof expected, "\"records_moved\":[%llu]", (unsigned long long)record_id);
    CHECK(strstr(report, expected) != NULL);
    CHECK(strstr(report, "\"consents_moved\":1") != NULL && strstr(report, "\"withdrawals_kept\":[]") != NULL);
    CHECK(strstr(report, "\"hold_carried\":false") != NULL && strstr(report, "\"restriction_carried\":false") != NULL);
    CHECK(strstr(report, "wangwu") == NULL && strstr(report, "13912345678") == NULL);
    cust_string_free(report);

    /* The duplicate is gone; its record is the survivor's; its id leads to the survivor's history. */
    customer = SENTINEL;
    CHECK_STATUS(cust_customer_get(admin, dup, &customer), CUST_STATUS_NOT_FOUND);
    CHECK(customer == SENTINEL);
    CHECK_STATUS(cust_customer_get_by_code(admin, "KH981", &customer), CUST_STATUS_CODE_NOT_FOUND);
    OK(cust_record_get(admin, record_id, &record));
    CHECK(cust_record_customer(record) == keep);
    cust_record_free(record);
    char *json = NULL;
    OK(cust_consent_list_json(admin, keep, &json));
    CHECK(strstr(json, "\"sms\"") != NULL);
    cust_string_free(json);
    OK(cust_audit_query_json(admin, dup, NULL, 0, 0, 0, &json));
    CHECK(strstr(json, "customer.merge") != NULL && strstr(json, "\"method\":\"merge\"") != NULL);
    CHECK(strstr(json, "merge:ticket-1") != NULL);
    snprintf(expected, sizeof expected, "\"customers\":[%lld]", (long long)keep);
    CHECK(strstr(json, expected) != NULL);
    cust_string_free(json);
    /* Without the report: the survivor alone. A hold is carried when asked. */
    in = person("KH982", "王五五", "13712345678");
    OK(cust_customer_create(admin, in, &customer));
    const int64_t third = cust_customer_id(customer);
    cust_customer_free(customer);
    cust_input_free(in);
    OK(cust_customer_place_hold(compliance, third, "case-10"));
    OK(cust_customer_merge(compliance, keep, keep_version + 1, third, 1,
                           "{\"reference\": \"ticket-2\", \"carry_holds\": true}", NULL, &customer));
    CHECK(cust_customer_id(customer) == keep && cust_customer_version(customer) == keep_version + 2);
    cust_customer_free(customer);
    CHECK_STATUS(cust_customer_erase(compliance, keep, "dsr-1"), CUST_STATUS_LEGAL_HOLD);
    cust_session_close(clerk);
    cust_session_close(compliance);
    cust_session_close(admin);
    cust_store_close(store);
}

/* Organisation customers: the credit code (looked up however it is typed),
 * the registered address, a landline read back in its normal form, contact
 * persons as JSON; each refused with its own rule, never echoing the value. */
static void test_organisations(const char *dir) {
    cust_store *store = provisioned(dir, "organisations");
    cust_session *admin = NULL, *clerk = NULL;
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    OK(cust_session_open(store, "clerk", "service", false, 0, &clerk));
    /* The codes are appended after CUST_FIELD_VERSION; none is renumbered. */
    CHECK(CUST_FIELD_VERSION == 19 && CUST_FIELD_CREDIT_CODE == 20 && CUST_FIELD_REGISTERED_ADDRESS == 21);
    CHECK(CUST_FIELD_LANDLINE == 22 && CUST_FIELD_CONTACTS == 23);

    /* 91350100M000100Y4 and its GB 32100 check character 3. */
    const char *code = "91350100M000100Y43";
    const char *contacts = "[{\"name\": \"李四\", \"title\": \"采购经理\", \"mobile\": \"+86 138 1234 5678\", "
                           "\"email\": \"LiSi@Example.com\"}]";
    cust_input *in = NULL;
    OK(cust_input_new(CUST_KIND_ORGANISATION, &in));
    OK(cust_input_set(in, CUST_FIELD_EXTERNAL_CODE, "ORG001"));
    OK(cust_input_set(in, CUST_FIELD_ORGANISATION, "星辰科技有限公司"));
    OK(cust_input_set(in, CUST_FIELD_CREDIT_CODE, "91350100m000100y43"));
    OK(cust_input_set(in, CUST_FIELD_REGISTERED_ADDRESS, "福建省福州市鼓楼区五四路1号"));
    OK(cust_input_set(in, CUST_FIELD_LANDLINE, "(010) 6234 5678 转 801"));
    OK(cust_input_set(in, CUST_FIELD_CONTACTS, contacts));
    cust_customer *customer = NULL;
    OK(cust_customer_create(clerk, in, &customer));
    const int64_t id = cust_customer_id(customer);
    CHECK(id > 0);
    char text[512];
    uint32_t shown = 99;
    OK(cust_customer_field(customer, CUST_FIELD_KIND, text, sizeof text, NULL, NULL));
    CHECK(strcmp(text, "organisation") == 0);
    OK(cust_customer_field(customer, CUST_FIELD_CREDIT_CODE, text, sizeof text, NULL, &shown));
    CHECK(strcmp(text, code) == 0 && shown == CUST_SHOWN_PLAIN); /* upper-cased */
    OK(cust_customer_field(customer, CUST_FIELD_REGISTERED_ADDRESS, text, sizeof text, NULL, NULL));
    CHECK(strcmp(text, "福建省福州市鼓楼区五四路1号") == 0);
    OK(cust_customer_field(customer, CUST_FIELD_LANDLINE, text, sizeof text, NULL, NULL));
    CHECK(strcmp(text, "010-62345678-801") == 0);
    /* Every part normalised like the customer's own field, written back as compact JSON. */
    OK(cust_customer_field(customer, CUST_FIELD_CONTACTS, text, sizeof text, NULL, NULL));
    CHECK(strcmp(text, "[{\"name\":\"李四\",\"title\":\"采购经理\",\"mobile\":\"13812345678\","
                       "\"email\":\"lisi@example.com\"}]") == 0);
    char *json = NULL;
    OK(cust_customer_to_json(customer, &json));
    CHECK(strstr(json, "\"credit_code\":\"91350100M000100Y43\"") != NULL);
    CHECK(strstr(json, "\"landline\":\"010-62345678-801\"") != NULL);
    cust_string_free(json);
    cust_customer_free(customer);
    cust_input_free(in);

    /* Found by its credit code however it is typed: upper or lower case, spaces, dashes. */
    const char *spellings[] = {code, "91350100m000100y43", "913501 00M000100Y43", "91-350100-M000100Y43"};
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
        cust_list *list = NULL;
        OK(cust_customer_find(clerk, CUST_FIELD_CREDIT_CODE, spellings[i], &list));
        const cust_customer *found = NULL;
        CHECK(cust_list_len(list) == 1 && cust_list_get(list, 0, &found) == CUST_STATUS_OK);
        CHECK(cust_customer_id(found) == id);
        cust_list_free(list);
    }
    cust_list *list = SENTINEL;
    /* A valid code nobody has: an empty list. */
    OK(cust_customer_find(clerk, CUST_FIELD_CREDIT_CODE, "91110108MA01ABCD1E", &list));
    CHECK(cust_list_len(list) == 0 && cust_list_total(list) == 0);
    cust_list_free(list);
    list = SENTINEL;
    CHECK_STATUS(cust_customer_find(clerk, CUST_FIELD_CREDIT_CODE, "91350100M000100Y44", &list), CUST_STATUS_INVALID);
    CHECK(list == SENTINEL && strstr(last_error(), "(rule credit_code_check)") != NULL);
    CHECK_STATUS(cust_customer_find(clerk, CUST_FIELD_REGISTERED_ADDRESS, "福州", &list), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(list == SENTINEL && strstr(last_error(), "not_indexed") != NULL);

    /* Refusals: the field and its rule named, the value never echoed, nothing stored. */
    const struct {
        cust_field field;
        const char *value;
        const char *named;
        const char *rule;
    } refused[] = {
        {CUST_FIELD_CREDIT_CODE, "91350100M000100Y44", "'credit_code'", "(rule credit_code_check)"},
        {CUST_FIELD_CREDIT_CODE, "91350100M000100Y4", "'credit_code'", "(rule credit_code_length)"},
        {CUST_FIELD_CREDIT_CODE, "91350100I000100Y43", "'credit_code'", "(rule credit_code_format)"},
        {CUST_FIELD_LANDLINE, "62345678", "'landline'", "(rule landline_area_code)"},
        {CUST_FIELD_LANDLINE, "010-62345678 转 1234567", "'landline'", "(rule landline_extension)"},
        {CUST_FIELD_CONTACTS, "[{\"name\": \"王五\", \"mobile\": \"12345\"}]", "'contacts[1].mobile'",
         "(rule mobile_format)"},
        {CUST_FIELD_CONTACTS, "[]", "'contacts'", "(rule contacts_count)"},
        {CUST_FIELD_CONTACTS, "not json", "'contacts'", "(rule contacts_json)"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        OK(cust_input_new(CUST_KIND_ORGANISATION, &in));
        OK(cust_input_set(in, CUST_FIELD_ORGANISATION, "海风贸易有限公司"));
        OK(cust_input_set(in, refused[i].field, refused[i].value));
        customer = SENTINEL;
        CHECK_STATUS(cust_customer_create(clerk, in, &customer), CUST_STATUS_INVALID);
        const char *message = last_error();
        CHECK(customer == SENTINEL && strstr(message, refused[i].named) != NULL);
        CHECK(strstr(message, refused[i].rule) != NULL);
        CHECK(strstr(message, refused[i].value) == NULL);
        cust_input_free(in);
    }
    OK(cust_customer_list(admin, CUST_FIELD_NAME, false, 0, 10, &list));
    CHECK(cust_list_total(list) == 1);
    cust_list_free(list);

    /* An update normalises a new landline too; clearing the contacts leaves the field absent. */
    OK(cust_input_new(CUST_KIND_ORGANISATION, &in));
    OK(cust_input_set(in, CUST_FIELD_LANDLINE, "+86 571 8765 4321"));
    OK(cust_input_set(in, CUST_FIELD_CONTACTS, NULL));
    OK(cust_customer_update(admin, id, 1, in, &customer));
    OK(cust_customer_field(customer, CUST_FIELD_LANDLINE, text, sizeof text, NULL, NULL));
    CHECK(strcmp(text, "0571-87654321") == 0);
    OK(cust_customer_field(customer, CUST_FIELD_CONTACTS, text, sizeof text, NULL, &shown));
    CHECK(text[0] == 0 && shown == CUST_SHOWN_ABSENT);
    cust_customer_free(customer);
    cust_input_free(in);
    cust_session_close(clerk);
    cust_session_close(admin);
    cust_store_close(store);
}

/* Occurrences of `needle` in `text`. */
static int occurrences(const char *text, const char *needle) {
    int n = 0;
    for (const char *at = strstr(text, needle); at != NULL; at = strstr(at + 1, needle)) n++;
    return n;
}

/* Statistics as tests/statistics.rs counts them: 49 individuals, category x
 * tier 零售 [12, 7, 3], 批发 [6, 2, 9], 政府 [5, 5, 0], over four addresses
 * in turn. The analyst's suppressed cross-tab at k = 5 (the golden table),
 * provinces at k = 2, a filter, and the refusals: a bad query before anything
 * is counted or audited, k below 2, one dimension twice, an unknown one, and
 * a marketing session. */
/* One paid cash order of `minor` CNY for customer `id`. */
static void paid_order(cust_session *session, int64_t id, int64_t minor) {
    static int reference = 0;
    char name[32];
    snprintf(name, sizeof name, "PT-%d", reference++);
    cust_transaction_input *order = NULL;
    cust_record *record = NULL;
    OK(cust_transaction_input_new(name, "CNY", minor, "cash", &order));
    OK(cust_transaction_input_add_item(order, "茶", 1, minor));
    OK(cust_transaction_input_set_status(order, "paid"));
    OK(cust_transaction_add(session, id, order, &record));
    cust_record_free(record);
    cust_transaction_input_free(order);
}

static void test_statistics(const char *dir) {
    const cust_status N = CUST_STATUS_NULL_ARGUMENT;
    static const char *const stems[10] = {"甲", "乙", "丙", "丁", "戊", "己", "庚", "辛", "壬", "癸"};
    static const char *const addresses[4] = {"浙江省杭州市西湖区文三路", "浙江宁波海曙区", "北京市朝阳区建国路",
                                             "广东省深圳市南山区"};
    static const struct {
        const char *category;
        int per_tier[3];
    } data[3] = {{"零售", {12, 7, 3}}, {"批发", {6, 2, 9}}, {"政府", {5, 5, 0}}};
    static const char *const tiers[3] = {"A", "B", "C"};
    cust_store *store = provisioned(dir, "statistics");
    cust_session *admin = NULL, *analyst = NULL, *marketer = NULL;
    OK(cust_session_open(store, "admin", "maintenance", true, 0, &admin));
    OK(cust_principal_register(admin, "analyst", "数据分析", false));
    OK(cust_principal_grant(admin, "analyst", "analyst", 0));
    cust_session_close(admin);
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    int n = 0;
    int64_t ids[49];
    for (size_t c = 0; c < 3; c++) {
        for (size_t t = 0; t < 3; t++) {
            for (int i = 0; i < data[c].per_tier[t]; i++, n++) {
                char name[64];
                snprintf(name, sizeof name, "统计%s%s", stems[n / 10], stems[n % 10]);
                cust_input *in = NULL;
                cust_customer *customer = NULL;
                OK(cust_input_new(CUST_KIND_INDIVIDUAL, &in));
                OK(cust_input_set(in, CUST_FIELD_NAME, name));
                OK(cust_input_set(in, CUST_FIELD_CATEGORY, data[c].category));
                OK(cust_input_set(in, CUST_FIELD_TIER, tiers[t]));
                OK(cust_input_set(in, CUST_FIELD_ADDRESS, addresses[n % 4]));
                OK(cust_customer_create(admin, in, &customer));
                ids[n] = cust_customer_id(customer);
                cust_customer_free(customer);
                cust_input_free(in);
            }
        }
    }
    CHECK(n == 49);
    OK(cust_session_open(store, "analyst", "analytics", false, 0, &analyst));

    /* A query the binding refuses: the output untouched, nothing counted or audited. */
    const struct {
        const char *query;
        const char *named;
    } malformed[] = {
        {"{\"rows\": \"tier\",", "invalid statistics query JSON"},
        {"{\"rows\": \"tier\", \"k\": 5}", "`k`"},
        {"{\"rows\": \"tier\", \"filter\": {\"colour\": \"red\"}}", "`colour`"},
        {"{\"rows\": \"tier\", \"threshold\": \"5\"}", "invalid statistics query JSON"},
        {"{\"rows\": 3}", "invalid statistics query JSON"},
        {"{\"rows\": \"tier\", \"filter\": \"零售\"}", "invalid statistics query JSON"},
        {"{\"columns\": \"tier\"}", "`rows`"},
        {"[\"tier\"]", "invalid statistics query JSON"},
        {"{\"rows\": \"tier\", \"threshold\": -5}", "invalid statistics query JSON"},
    };
    char *table = SENTINEL;
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        CHECK_STATUS(cust_statistics(analyst, malformed[i].query, &table), CUST_STATUS_INVALID);
        CHECK(table == SENTINEL && strstr(last_error(), malformed[i].named) != NULL);
    }
    CHECK_STATUS(cust_statistics(NULL, "{\"rows\": \"tier\"}", &table), N);
    CHECK_STATUS(cust_statistics(analyst, NULL, &table), N);
    CHECK_STATUS(cust_statistics(analyst, "{\"rows\": \"tier\"}", NULL), N);
    CHECK(strstr(last_error(), "table_json") != NULL);
    CHECK_STATUS(cust_statistics(analyst, BAD_UTF8, &table), CUST_STATUS_INVALID_UTF8);
    CHECK(table == SENTINEL);
    char *json = NULL;
    OK(cust_audit_query_json(admin, 0, "analyst", 0, 0, 0, &json));
    CHECK(occurrences(json, "customer.statistics") == 0);
    cust_string_free(json);

    /* The golden table: 2 (批发, B) and 3 (零售, C) below k; then 6, 7, 5 (政府, A), 9
     * and the other 5 so that no line holds a single suppression. Zero is shown. */
    OK(cust_statistics(analyst, "{\"rows\": \"category\", \"columns\": \"tier\"}", &table));
    CHECK(strcmp(table, "{\"rows\":\"category\",\"columns\":\"tier\",\"threshold\":5,"
                        "\"row_labels\":[\"批发\",\"政府\",\"零售\"],\"column_labels\":[\"A\",\"B\",\"C\"],"
                        "\"cells\":[[null,null,null],[null,null,0],[12,null,null]],"
                        "\"row_totals\":[17,10,22],\"column_totals\":[23,14,12],\"total\":49,"
                        "\"suppressed_primary\":2,\"suppressed_secondary\":5}") == 0);
    /* Labels and counts only: no name or address. */
    CHECK(strstr(table, "统计") == NULL && strstr(table, "文三路") == NULL);
    cust_string_free(table);
    OK(cust_audit_query_json(admin, 0, "analyst", 0, 0, 0, &json));
    CHECK(occurrences(json, "customer.statistics") == 1 && strstr(json, "rows=category") != NULL);
    cust_string_free(json);

    /* One dimension: provinces from the addresses (13 杭州 + 12 宁波), at k = 2. */
    OK(cust_statistics(analyst, "{\"rows\": \"province\", \"columns\": null, \"threshold\": 2}", &table));
    CHECK(strcmp(table, "{\"rows\":\"province\",\"columns\":null,\"threshold\":2,"
                        "\"row_labels\":[\"北京市\",\"广东省\",\"浙江省\"],\"column_labels\":[\"count\"],"
                        "\"cells\":[[12],[12],[25]],\"row_totals\":[12,12,25],\"column_totals\":[49],"
                        "\"total\":49,\"suppressed_primary\":0,\"suppressed_secondary\":0}") == 0);
    cust_string_free(table);
    /* A filter on a classification attribute. */
    OK(cust_statistics(analyst, "{\"rows\": \"tier\", \"filter\": {\"category\": \"零售\"}, \"threshold\": 2}",
                       &table));
    CHECK(strstr(table, "\"row_labels\":[\"A\",\"B\",\"C\"]") != NULL && strstr(table, "\"cells\":[[12],[7],[3]]") != NULL);
    CHECK(strstr(table, "\"total\":22") != NULL);
    cust_string_free(table);
    /* Age bands come from birth dates read inside the store; nobody here has one. */
    OK(cust_statistics(analyst, "{\"rows\": \"age_band\"}", &table));
    CHECK(strstr(table, "\"row_labels\":[\"(none)\"]") != NULL && strstr(table, "\"cells\":[[49]]") != NULL);
    cust_string_free(table);

    /* Purchase totals by tier: tier A of 零售 is ids[0..12], B ids[12..19], C ids[19..22]. */
    for (int i = 0; i < 6; i++) {
        paid_order(admin, ids[i], 10000); /* 6 tier-A buyers, 100.00 each */
    }
    for (int i = 12; i < 17; i++) {
        paid_order(admin, ids[i], 2000); /* 5 tier-B buyers */
    }
    paid_order(admin, ids[19], 70000); /* 1 tier-C buyer: suppressed, and B with it */
    OK(cust_purchase_totals(analyst, "{\"rows\": \"tier\", \"currency\": \"CNY\"}", &table));
    CHECK(strstr(table, "\"row_labels\":[\"A\",\"B\",\"C\"]") != NULL);
    CHECK(strstr(table, "\"buyers\":[6,null,null]") != NULL);
    CHECK(strstr(table, "\"amounts\":[\"600.00 CNY\",null,null]") != NULL);
    CHECK(strstr(table, "\"total_buyers\":12") != NULL && strstr(table, "\"total_amount\":\"1400.00 CNY\"") != NULL);
    CHECK(strstr(table, "\"suppressed_primary\":2") != NULL && strstr(table, "\"suppressed_secondary\":2") != NULL);
    cust_string_free(table);
    paid_order(admin, ids[20], 1000); /* a second tier-C buyer: at k = 2 every row shows */
    OK(cust_purchase_totals(analyst, "{\"rows\": \"tier\", \"currency\": \"CNY\", \"threshold\": 2}", &table));
    CHECK(strstr(table, "\"buyers\":[6,5,2]") != NULL);
    CHECK(strstr(table, "\"amounts\":[\"600.00 CNY\",\"100.00 CNY\",\"710.00 CNY\"]") != NULL);
    cust_string_free(table);
    table = SENTINEL;
    CHECK_STATUS(cust_purchase_totals(analyst, "{\"rows\": \"tier\", \"currency\": \"XXY\"}", &table),
                 CUST_STATUS_INVALID);
    CHECK(table == SENTINEL && strstr(last_error(), "currency_unknown") != NULL);
    CHECK_STATUS(cust_purchase_totals(analyst, "{\"rows\": \"age_band\", \"currency\": \"CNY\"}", &table),
                 CUST_STATUS_INVALID);
    CHECK(table == SENTINEL && strstr(last_error(), "statistics_dimension") != NULL);
    CHECK_STATUS(cust_purchase_totals(analyst, "{\"rows\": \"tier\"}", &table), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_purchase_totals(analyst, "{\"rows\": \"tier\", \"currency\": \"CNY\", \"k\": 5}", &table),
                 CUST_STATUS_INVALID);
    CHECK_STATUS(cust_purchase_totals(NULL, "{\"rows\": \"tier\", \"currency\": \"CNY\"}", &table), N);
    CHECK_STATUS(cust_purchase_totals(analyst, NULL, &table), N);
    CHECK_STATUS(cust_purchase_totals(analyst, "{\"rows\": \"tier\", \"currency\": \"CNY\"}", NULL), N);
    CHECK(table == SENTINEL);

    /* Refusals of the call itself, each with its rule. */
    table = SENTINEL;
    CHECK_STATUS(cust_statistics(analyst, "{\"rows\": \"tier\", \"threshold\": 1}", &table),
                 CUST_STATUS_INVALID_ARGUMENT);
    CHECK(table == SENTINEL && strstr(last_error(), "(rule statistics_threshold)") != NULL);
    CHECK_STATUS(cust_statistics(analyst, "{\"rows\": \"tier\", \"columns\": \"tier\"}", &table), CUST_STATUS_INVALID);
    CHECK(table == SENTINEL && strstr(last_error(), "(rule statistics_same_dimension)") != NULL);
    CHECK_STATUS(cust_statistics(analyst, "{\"rows\": \"colour\"}", &table), CUST_STATUS_INVALID);
    CHECK(table == SENTINEL && strstr(last_error(), "(rule statistics_dimension)") != NULL);
    CHECK_STATUS(cust_statistics(analyst, "{\"rows\": \"tier\", \"columns\": \"colour\"}", &table), CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "(rule statistics_dimension)") != NULL);
    OK(cust_session_open_marketing(store, "marketer", "sms", false, 0, &marketer));
    CHECK_STATUS(cust_statistics(marketer, "{\"rows\": \"tier\"}", &table), CUST_STATUS_DENIED);
    CHECK(table == SENTINEL && strstr(last_error(), "statistics.marketing") != NULL);
    CHECK_STATUS(cust_purchase_totals(marketer, "{\"rows\": \"tier\", \"currency\": \"CNY\"}", &table),
                 CUST_STATUS_DENIED);
    CHECK(table == SENTINEL && strstr(last_error(), "statistics.marketing") != NULL);
    char text[512];
    OK(cust_session_last_error(marketer, text, sizeof text, NULL));
    CHECK(strstr(text, "statistics.marketing") != NULL);
    cust_session_close(marketer);
    cust_session_close(analyst);
    cust_session_close(admin);
    cust_store_close(store);
}

/* The id of item `i` of `list`. */
static int64_t list_id(const cust_list *list, size_t i) {
    const cust_customer *item = NULL;
    OK(cust_list_get(list, i, &item));
    return item == NULL ? -1 : cust_customer_id(item);
}

/* The keyword index: a store created with chosen search settings, read
 * back; search through the index; a rebuild; refused settings. */
static void test_search_index(const char *dir) {
    const cust_status N = CUST_STATUS_NULL_ARGUMENT;
    char path[512];
    cust_store *store = NULL;
    path_in(path, sizeof path, dir, "search");
    cust_store *refused = SENTINEL;
    path_in(path, sizeof path, dir, "search-refused");
    CHECK_STATUS(cust_store_create_with(path, KEY, 32, "{\"search\": {\"fields\": [\"id_number\"]}}", &refused),
                 CUST_STATUS_INVALID);
    CHECK(refused == SENTINEL && strstr(last_error(), "catalogue.search_field") != NULL);
    CHECK_STATUS(cust_store_create_with(path, KEY, 32, "{\"search\": {\"token_bits\": 8}}", &refused),
                 CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "catalogue.search_token_bits") != NULL);
    CHECK_STATUS(cust_store_create_with(path, KEY, 32, "{\"colour\": 1}", &refused), CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "invalid catalogue JSON") != NULL);
    CHECK_STATUS(cust_store_create_with(path, KEY, 32, "{\"search\": {\"fields\": [\"nmae\"]}}", &refused),
                 CUST_STATUS_UNKNOWN_FIELD);
    CHECK_STATUS(cust_store_create_with(path, KEY, 32, BAD_UTF8, &refused), CUST_STATUS_INVALID_UTF8);
    CHECK_STATUS(cust_store_create_with(path, KEY, 32, NULL, NULL), N);
    CHECK(refused == SENTINEL);

    path_in(path, sizeof path, dir, "search");
    OK(cust_store_create_with(path, KEY, 32, "{\"search\": {\"fields\": [\"name\", \"notes\"], \"token_bits\": 24}}",
                              &store));
    char *settings = NULL;
    OK(cust_store_search_settings(store, &settings));
    CHECK(strcmp(settings, "{\"fields\":[\"name\",\"notes\"],\"index\":true,\"token_bits\":24}") == 0);
    cust_string_free(settings);
    CHECK_STATUS(cust_store_search_settings(store, NULL), N);
    CHECK_STATUS(cust_store_search_settings(NULL, &settings), N);
    OK(cust_store_bootstrap_admin(store, "admin", "Administrator"));
    cust_session *admin = NULL;
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    int64_t ids[3];
    const char *const notes[3] = {"需要增值税发票", "普通咨询", "电子发票，VIP"};
    for (int i = 0; i < 3; i++) {
        char code[32], mobile[32];
        snprintf(code, sizeof code, "SI%d", i);
        snprintf(mobile, sizeof mobile, "1390000070%d", i);
        cust_input *in = person(code, "赵六", mobile);
        OK(cust_input_set(in, CUST_FIELD_NOTES, notes[i]));
        OK(cust_input_set(in, CUST_FIELD_TITLE, "发票专员"));
        cust_customer *customer = NULL;
        OK(cust_customer_create(admin, in, &customer));
        ids[i] = cust_customer_id(customer);
        cust_customer_free(customer);
        cust_input_free(in);
    }
    /* Notes are searched (the title is not a search field here); full-width matches. */
    cust_list *list = NULL;
    OK(cust_customer_search(admin, "发票", 0, 10, &list));
    CHECK(cust_list_total(list) == 2 && cust_list_len(list) == 2);
    CHECK(list_id(list, 0) == ids[0] && list_id(list, 1) == ids[2]);
    cust_list_free(list);
    OK(cust_customer_search(admin, "ｖｉｐ", 0, 10, &list));
    CHECK(cust_list_total(list) == 1 && list_id(list, 0) == ids[2]);
    cust_list_free(list);
    OK(cust_customer_search(admin, "专员", 0, 10, &list));
    CHECK(cust_list_total(list) == 0);
    cust_list_free(list);
    uint64_t indexed = 0;
    OK(cust_store_rebuild_search_index(store, &indexed));
    CHECK(indexed == 3);
    OK(cust_store_rebuild_search_index(store, NULL));
    CHECK_STATUS(cust_store_rebuild_search_index(NULL, &indexed), N);
    OK(cust_customer_search(admin, "发票", 0, 10, &list));
    CHECK(cust_list_total(list) == 2);
    cust_list_free(list);
    char *log = NULL;
    OK(cust_audit_query_json(admin, 0, NULL, 0, 0, 1000, &log));
    CHECK(occurrences(log, "store.rebuild_search_index") == 2);
    cust_string_free(log);
    cust_session_close(admin);
    cust_store_close(store);

    /* With a passphrase, and with the index off: search scans, with the same answer. */
    path_in(path, sizeof path, dir, "search-unindexed");
    OK(cust_store_create_passphrase_with(path, "correct horse battery staple", 100000,
                                         "{\"search\": {\"index\": false}}", &store));
    OK(cust_store_search_settings(store, &settings));
    CHECK(strstr(settings, "\"index\":false") != NULL && strstr(settings, "\"notes\"") != NULL);
    cust_string_free(settings);
    cust_store_close(store);
}

/* `key` as 64 lower-case hex digits and a NUL. */
static void hex_of(char out[65], const uint8_t key[32]) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = digits[key[i] >> 4];
        out[2 * i + 1] = digits[key[i] & 0xf];
    }
    out[64] = 0;
}

/* Whether `len` bytes at `bytes` hold the text `needle` anywhere. */
static int bytes_hold(const uint8_t *bytes, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++) {
        if (memcmp(bytes + i, needle, n) == 0) return 1;
    }
    return 0;
}

/* A customer with a name, a mobile, an e-mail and an ID number; its id. */
static int64_t shared_customer(cust_session *session, const char *code, const char *mobile, const char *email,
                               const char *id_number) {
    cust_input *in = person(code, "王五", mobile);
    cust_customer *customer = NULL;
    OK(cust_input_set(in, CUST_FIELD_EMAIL, email));
    OK(cust_input_set(in, CUST_FIELD_ID_NUMBER, id_number));
    OK(cust_input_set(in, CUST_FIELD_CATEGORY, "零售"));
    OK(cust_customer_create(session, in, &customer));
    cust_input_free(in);
    int64_t id = cust_customer_id(customer);
    cust_customer_free(customer);
    return id;
}

/* Sharing with a third party, as tests/sharing.rs: a recipient registered with a generated
 * key pair, sharing consents recorded through cust_consent_record (channels third_party and
 * third_party_sensitive), a share of name, mobile and ID number, the recipient's session that
 * sees only the consenting customers and only the granted fields (the ID number only with
 * sensitive consent), a withdrawal taking a customer out, a package verified and opened with
 * the recipient's secret and refused with another, truncated or altered, the customer's
 * account of every disclosure, revocation, and the refusals of malformed JSON (nothing stored). */
static void test_sharing(const char *dir) {
    const cust_status N = CUST_STATUS_NULL_ARGUMENT;
    const long long DAY = 86400000LL;
    const long long now = (long long)time(NULL) * 1000LL;
    cust_store *store = provisioned(dir, "sharing");
    cust_session *admin = NULL, *clerk = NULL, *compliance = NULL;
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    OK(cust_session_open(store, "clerk", "service", false, 0, &clerk));
    OK(cust_session_open(store, "admin", "compliance", true, 0, &compliance));
    char text[512];
    char *json = SENTINEL;

    /* Key pairs: 32 bytes each way, nothing written on a refusal. */
    uint8_t secret[32] = {0}, public_key[32] = {0}, other_secret[32] = {0}, other_public[32] = {0};
    uint8_t derived[32] = {0}, zero[32] = {0};
    CHECK_STATUS(cust_recipient_keypair(NULL, 32, public_key, 32), N);
    CHECK_STATUS(cust_recipient_keypair(secret, 32, NULL, 32), N);
    CHECK_STATUS(cust_recipient_keypair(secret, 31, public_key, 32), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(last_error(), "secret_len") != NULL);
    CHECK_STATUS(cust_recipient_keypair(secret, 32, public_key, 64), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(memcmp(secret, zero, 32) == 0 && memcmp(public_key, zero, 32) == 0);
    OK(cust_recipient_keypair(secret, 32, public_key, 32));
    OK(cust_recipient_keypair(other_secret, sizeof other_secret, other_public, sizeof other_public));
    CHECK(memcmp(secret, zero, 32) != 0 && memcmp(secret, other_secret, 32) != 0);
    OK(cust_recipient_public_key(secret, 32, derived, 32));
    CHECK(memcmp(derived, public_key, 32) == 0);
    CHECK_STATUS(cust_recipient_public_key(secret, 16, derived, 32), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_recipient_public_key(NULL, 32, derived, 32), N);
    CHECK_STATUS(cust_recipient_public_key(secret, 32, derived, 0), CUST_STATUS_INVALID_ARGUMENT);
    char key_hex[65], other_hex[65];
    hex_of(key_hex, public_key);
    hex_of(other_hex, other_public);

    /* Recipients: every malformed registration refused, nothing stored. */
    char recipient[1024], bad[1024];
    const char *const format = "{\"id\": \"%s\", \"name\": \"顺达物流有限公司\", \"agreement\": \"DPA-2026-017\", "
                               "\"agreement_from\": %lld, \"agreement_until\": %lld, \"public_key\": \"%s\"%s}";
    snprintf(recipient, sizeof recipient, format, "acme", now - DAY, now + 365 * DAY, key_hex, "");
    const struct {
        const char *id;
        const char *key;
        const char *extra;
        const char *named;
    } refused[] = {
        {"acme", key_hex, ", \"colour\": \"red\"", "`colour`"},
        {"acme", "abcd", "", "(rule recipient_public_key)"},
        {"acme", "0000000000000000000000000000000000000000000000000000000000000000", "", "(rule recipient_public_key)"},
        {"marketing", key_hex, "", "(rule recipient_id)"},
        {"Bad-Id", key_hex, "", "(rule recipient_id)"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(bad, sizeof bad, format, refused[i].id, now - DAY, now + 365 * DAY, refused[i].key, refused[i].extra);
        json = SENTINEL;
        CHECK_STATUS(cust_recipient_register(admin, bad, &json), CUST_STATUS_INVALID);
        CHECK(json == SENTINEL && strstr(last_error(), refused[i].named) != NULL);
    }
    snprintf(bad, sizeof bad, format, "acme", now + DAY, now - DAY, key_hex, "");
    CHECK_STATUS(cust_recipient_register(admin, bad, &json), CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "(rule agreement_period)") != NULL);
    const char *const malformed_recipients[] = {
        "{\"id\": \"acme\"",
        "[\"acme\"]",
        "{\"id\": \"acme\", \"name\": \"x\"}",
        "{\"id\": 7, \"name\": \"x\", \"agreement\": \"A\", \"agreement_from\": 0, \"agreement_until\": 1, "
        "\"public_key\": \"00\"}",
    };
    for (size_t i = 0; i < sizeof malformed_recipients / sizeof malformed_recipients[0]; i++) {
        CHECK_STATUS(cust_recipient_register(admin, malformed_recipients[i], &json), CUST_STATUS_INVALID);
        CHECK(json == SENTINEL && strstr(last_error(), "invalid recipient JSON") != NULL);
    }
    CHECK_STATUS(cust_recipient_register(admin, BAD_UTF8, &json), CUST_STATUS_INVALID_UTF8);
    CHECK_STATUS(cust_recipient_register(admin, NULL, &json), N);
    CHECK_STATUS(cust_recipient_register(NULL, recipient, &json), N);
    CHECK_STATUS(cust_recipient_register(clerk, recipient, &json), CUST_STATUS_DENIED);
    CHECK(json == SENTINEL);
    OK(cust_recipients_json(admin, &json));
    CHECK(strcmp(json, "[]") == 0);
    cust_string_free(json);

    OK(cust_recipient_register(admin, recipient, &json));
    CHECK(strstr(json, "\"id\":\"acme\"") != NULL && strstr(json, key_hex) != NULL);
    CHECK(strstr(json, "\"registered_by\":\"admin\"") != NULL && strstr(json, "\"revoked\"") == NULL);
    cust_string_free(json);
    CHECK_STATUS(cust_recipient_register(admin, recipient, NULL), CUST_STATUS_ALREADY_EXISTS);
    snprintf(bad, sizeof bad, format, "other", now - DAY, now + 365 * DAY, other_hex, "");
    OK(cust_recipient_register(admin, bad, NULL));
    OK(cust_recipients_json(admin, &json));
    CHECK(strstr(json, "\"id\":\"acme\"") != NULL && strstr(json, "\"id\":\"other\"") != NULL);
    cust_string_free(json);
    CHECK_STATUS(cust_recipients_json(admin, NULL), N);
    CHECK_STATUS(cust_recipients_json(clerk, &json), CUST_STATUS_DENIED);

    /* Customers and their sharing consents, through the consent function everyone uses:
     * 0 consents to acme, 1 to every third party with sensitive data, 2 never consents,
     * 3 consents to acme and withdraws later. */
    int64_t ids[4];
    ids[0] = shared_customer(admin, "KH700", "13900000070", "user70@example.com", "110101199003078515");
    ids[1] = shared_customer(admin, "KH701", "13900000071", "user71@example.com", "11010519491231002X");
    ids[2] = shared_customer(admin, "KH702", "13900000072", "user72@example.com", "110101199003078515");
    ids[3] = shared_customer(admin, "KH703", "13900000073", "user73@example.com", "110101199003078515");
    OK(cust_consent_record(clerk, ids[0], "acme", "third_party", true, "web_form", "v2"));
    OK(cust_consent_record(clerk, ids[1], "third_parties", "third_party", true, "web_form", "v2"));
    OK(cust_consent_record(clerk, ids[1], "third_parties", "third_party_sensitive", true, "web_form", "v2"));
    OK(cust_consent_record(clerk, ids[3], "acme", "third_party", true, "counter", "v2"));
    CHECK_STATUS(cust_consent_record(clerk, ids[2], "nobody_here", "third_party", true, "web_form", "v2"),
                 CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "(rule consent_recipient_unknown)") != NULL);

    /* Shares: every malformed or inconsistent grant refused, nothing stored. */
    char share[1024];
    const char *const share_format = "{\"recipient\": \"%s\", \"purpose\": \"delivery\", \"fields\": [\"name\", "
                                     "\"mobile\", \"id_number\"], %s, \"expires_at\": %lld, \"agreement\": \"%s\"}";
    char listed[128];
    snprintf(listed, sizeof listed, "\"customers\": [%lld, %lld, %lld, %lld]", (long long)ids[0], (long long)ids[1],
             (long long)ids[2], (long long)ids[3]);
    snprintf(share, sizeof share, share_format, "acme", listed, now + 30 * DAY, "DPA-2026-017");
    const struct {
        const char *recipient;
        const char *customers;
        long long expires_at;
        const char *agreement;
        cust_status status;
        const char *named;
    } refused_shares[] = {
        {"acme", "\"customers\": [1], \"filter\": {}", now + DAY, "DPA-2026-017", CUST_STATUS_INVALID,
         "(rule share_customers_or_filter)"},
        {"acme", "\"colour\": \"red\"", now + DAY, "DPA-2026-017", CUST_STATUS_INVALID, "`colour`"},
        {"acme", "\"filter\": {\"colour\": \"red\"}", now + DAY, "DPA-2026-017", CUST_STATUS_INVALID, "`colour`"},
        {"acme", "\"customers\": \"all\"", now + DAY, "DPA-2026-017", CUST_STATUS_INVALID, "invalid share JSON"},
        {"acme", "\"customers\": []", now + DAY, "DPA-2026-017", CUST_STATUS_INVALID, "(rule share_customers_count)"},
        {"acme", "\"customers\": [987654]", now + DAY, "DPA-2026-017", CUST_STATUS_NOT_FOUND, "987654"},
        {"acme", "\"filter\": {}", now + 400 * DAY, "DPA-2026-017", CUST_STATUS_INVALID,
         "(rule share_outlives_agreement)"},
        {"acme", "\"filter\": {}", now - DAY, "DPA-2026-017", CUST_STATUS_INVALID, "(rule share_expiry_past)"},
        {"acme", "\"filter\": {}", now + DAY, "DPA-OTHER", CUST_STATUS_INVALID, "(rule share_agreement_mismatch)"},
        {"nobody_here", "\"filter\": {}", now + DAY, "DPA-2026-017", CUST_STATUS_RECIPIENT_NOT_FOUND, "nobody_here"},
    };
    uint64_t share_id = 0;
    for (size_t i = 0; i < sizeof refused_shares / sizeof refused_shares[0]; i++) {
        snprintf(bad, sizeof bad, share_format, refused_shares[i].recipient, refused_shares[i].customers,
                 refused_shares[i].expires_at, refused_shares[i].agreement);
        json = SENTINEL;
        share_id = 5;
        CHECK_STATUS(cust_share_create(admin, bad, &share_id, &json), refused_shares[i].status);
        CHECK(json == SENTINEL && share_id == 5 && strstr(last_error(), refused_shares[i].named) != NULL);
    }
    CHECK_STATUS(cust_share_create(admin, "[]", &share_id, &json), CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "invalid share JSON") != NULL);
    CHECK_STATUS(cust_share_create(admin, "{\"recipient\": \"acme\"", &share_id, &json), CUST_STATUS_INVALID);
    snprintf(bad, sizeof bad,
             "{\"recipient\": \"acme\", \"purpose\": \"delivery\", \"fields\": [\"colour\"], \"filter\": {}, "
             "\"expires_at\": %lld, \"agreement\": \"DPA-2026-017\"}",
             now + DAY);
    CHECK_STATUS(cust_share_create(admin, bad, &share_id, &json), CUST_STATUS_UNKNOWN_FIELD);
    CHECK_STATUS(cust_share_create(admin, BAD_UTF8, &share_id, &json), CUST_STATUS_INVALID_UTF8);
    CHECK_STATUS(cust_share_create(NULL, share, &share_id, &json), N);
    CHECK_STATUS(cust_share_create(admin, NULL, &share_id, &json), N);
    CHECK_STATUS(cust_share_create(clerk, share, &share_id, &json), CUST_STATUS_DENIED);
    CHECK(json == SENTINEL && share_id == 5);
    OK(cust_shares_json(admin, &json));
    CHECK(strcmp(json, "[]") == 0);
    cust_string_free(json);

    OK(cust_share_create(admin, share, &share_id, &json));
    CHECK(share_id == 1);
    CHECK(strstr(json, "\"id\":1,\"recipient\":\"acme\",\"purpose\":\"delivery\"") != NULL);
    CHECK(strstr(json, "\"fields\":[\"name\",\"mobile\",\"id_number\"]") != NULL);
    CHECK(strstr(json, "\"customers\":{\"listed\":[") != NULL && strstr(json, "\"created_by\":\"admin\"") != NULL);
    cust_string_free(json);
    /* A second share by classification attributes, neither output wanted. */
    snprintf(bad, sizeof bad, share_format, "acme", "\"filter\": {\"category\": \"批发\"}", now + DAY, "DPA-2026-017");
    OK(cust_share_create(admin, bad, NULL, NULL));
    OK(cust_shares_json(admin, &json));
    CHECK(strstr(json, "\"id\":2") != NULL && strstr(json, "\"matching\":{\"category\":\"批发\"}") != NULL);
    cust_string_free(json);
    CHECK_STATUS(cust_shares_json(admin, NULL), N);

    /* The recipient's session. */
    cust_share_session *recipient_session = SENTINEL;
    CHECK_STATUS(cust_share_session_open(store, 999, &recipient_session), CUST_STATUS_SHARE_NOT_FOUND);
    CHECK(recipient_session == SENTINEL);
    CHECK_STATUS(cust_share_session_open(NULL, share_id, &recipient_session), N);
    CHECK_STATUS(cust_share_session_open(store, share_id, NULL), N);
    OK(cust_share_session_open(store, share_id, &recipient_session));
    size_t needed = 0;
    CHECK_STATUS(cust_share_session_recipient(recipient_session, NULL, 0, &needed), CUST_STATUS_BUFFER_TOO_SMALL);
    CHECK(needed == 5);
    OK(cust_share_session_recipient(recipient_session, text, sizeof text, NULL));
    CHECK(strcmp(text, "acme") == 0);
    CHECK_STATUS(cust_share_session_recipient(NULL, text, sizeof text, NULL), N);

    /* A consenting customer: only the granted fields; the ID number only with sensitive consent. */
    cust_customer *seen = SENTINEL;
    uint32_t shown = 99;
    CHECK_STATUS(cust_share_get(NULL, ids[0], &seen), N);
    CHECK_STATUS(cust_share_get(recipient_session, ids[0], NULL), N);
    OK(cust_share_get(recipient_session, ids[0], &seen));
    CHECK(cust_customer_id(seen) == ids[0]);
    OK(cust_customer_field(seen, CUST_FIELD_MOBILE, text, sizeof text, NULL, &shown));
    CHECK(strcmp(text, "13900000070") == 0 && shown == CUST_SHOWN_PLAIN);
    OK(cust_customer_field(seen, CUST_FIELD_NAME, text, sizeof text, NULL, &shown));
    CHECK(strcmp(text, "王五") == 0 && shown == CUST_SHOWN_PLAIN);
    OK(cust_customer_field(seen, CUST_FIELD_ID_NUMBER, text, sizeof text, NULL, &shown));
    CHECK(text[0] == 0 && shown == CUST_SHOWN_WITHHELD);
    OK(cust_customer_field(seen, CUST_FIELD_EMAIL, text, sizeof text, NULL, &shown));
    CHECK(text[0] == 0 && shown == CUST_SHOWN_WITHHELD);
    OK(cust_customer_field(seen, CUST_FIELD_CATEGORY, text, sizeof text, NULL, &shown));
    CHECK(shown == CUST_SHOWN_WITHHELD);
    OK(cust_customer_to_json(seen, &json));
    CHECK(strstr(json, "user70@example.com") == NULL && strstr(json, "\"withheld\":[") != NULL);
    cust_string_free(json);
    cust_customer_free(seen);
    OK(cust_share_get(recipient_session, ids[1], &seen));
    OK(cust_customer_field(seen, CUST_FIELD_ID_NUMBER, text, sizeof text, NULL, &shown));
    CHECK(strcmp(text, "11010519491231002X") == 0 && shown == CUST_SHOWN_PLAIN);
    cust_customer_free(seen);
    /* One who never consented is absent, as if there were none. */
    seen = SENTINEL;
    CHECK_STATUS(cust_share_get(recipient_session, ids[2], &seen), CUST_STATUS_NOT_FOUND);
    CHECK(seen == SENTINEL);
    OK(cust_share_session_last_error(recipient_session, text, sizeof text, NULL));
    CHECK(strstr(text, "not found") != NULL);
    CHECK_STATUS(cust_share_session_last_error(NULL, text, sizeof text, NULL), N);
    CHECK_STATUS(cust_share_get(recipient_session, 987654, &seen), CUST_STATUS_NOT_FOUND);
    /* A withdrawal takes a customer out on the next call. */
    OK(cust_share_get(recipient_session, ids[3], &seen));
    cust_customer_free(seen);
    OK(cust_consent_record(clerk, ids[3], "acme", "third_party", false, "call", "v2"));
    seen = SENTINEL;
    CHECK_STATUS(cust_share_get(recipient_session, ids[3], &seen), CUST_STATUS_NOT_FOUND);
    CHECK(seen == SENTINEL);

    /* Pages of the customers inside: 0 and 1, one at a time. */
    cust_list *page = SENTINEL;
    int64_t next = -1;
    CHECK_STATUS(cust_share_customers(recipient_session, 0, 0, &next, &page), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_share_customers(recipient_session, 0, 1001, &next, &page), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_share_customers(recipient_session, 0, 1, &next, NULL), N);
    CHECK(page == SENTINEL && next == -1);
    OK(cust_share_customers(recipient_session, 0, 1, &next, &page));
    const cust_customer *item = NULL;
    CHECK(cust_list_len(page) == 1 && cust_list_total(page) == 1 && next == ids[0]);
    OK(cust_list_get(page, 0, &item));
    CHECK(cust_customer_id(item) == ids[0]);
    cust_list_free(page);
    OK(cust_share_customers(recipient_session, next, 1, &next, &page));
    OK(cust_list_get(page, 0, &item));
    CHECK(cust_list_len(page) == 1 && cust_customer_id(item) == ids[1] && next == 0);
    OK(cust_customer_field(item, CUST_FIELD_ID_NUMBER, text, sizeof text, NULL, &shown));
    CHECK(shown == CUST_SHOWN_PLAIN);
    cust_list_free(page);
    OK(cust_share_customers(recipient_session, 0, 100, NULL, &page));
    CHECK(cust_list_len(page) == 2);
    cust_list_free(page);

    /* A package: sealed, verified without a key, opened with the recipient's secret only. */
    uint8_t *package = SENTINEL;
    size_t package_len = 0;
    CHECK_STATUS(cust_share_package(NULL, &package, &package_len), N);
    CHECK_STATUS(cust_share_package(recipient_session, NULL, &package_len), N);
    CHECK_STATUS(cust_share_package(recipient_session, &package, NULL), N);
    CHECK(package == SENTINEL);
    OK(cust_share_package(recipient_session, &package, &package_len));
    CHECK(package != SENTINEL && package_len > 100 && memcmp(package, "CUSTSHR1", 8) == 0);
    CHECK(!bytes_hold(package, package_len, "13900000070") && !bytes_hold(package, package_len, "王五"));
    OK(cust_package_verify(package, package_len, &json));
    CHECK(strstr(json, "\"format\":\"custodian-share-package/1\"") != NULL && strstr(json, "\"share\":1,") != NULL);
    CHECK(strstr(json, "\"recipient\":\"acme\"") != NULL && strstr(json, "\"count\":2") != NULL);
    CHECK(strstr(json, key_hex) != NULL && strstr(json, "\"sha256\":\"") != NULL);
    CHECK(strstr(json, "13900000070") == NULL);
    cust_string_free(json);
    json = SENTINEL;
    CHECK_STATUS(cust_package_verify(package, package_len - 1, &json), CUST_STATUS_PACKAGE_REJECTED);
    CHECK(json == SENTINEL && strstr(last_error(), "share package rejected") != NULL);
    CHECK_STATUS(cust_package_verify(NULL, 0, &json), CUST_STATUS_PACKAGE_REJECTED);
    CHECK_STATUS(cust_package_verify(NULL, 10, &json), N);
    CHECK_STATUS(cust_package_verify(package, package_len, NULL), N);

    char *content = SENTINEL;
    OK(cust_package_open(package, package_len, secret, sizeof secret, &content));
    CHECK(strstr(content, "\"manifest\":{\"format\":\"custodian-share-package/1\"") != NULL);
    CHECK(strstr(content, "\"mobile\":\"13900000070\"") != NULL && strstr(content, "\"withheld\":[\"id_number\"]") != NULL);
    CHECK(strstr(content, "\"id_number\":\"11010519491231002X\"") != NULL);
    CHECK(strstr(content, "example.com") == NULL && strstr(content, "13900000072") == NULL);
    CHECK(strstr(content, "13900000073") == NULL);
    cust_string_free(content);
    content = SENTINEL;
    CHECK_STATUS(cust_package_open(package, package_len, other_secret, 32, &content), CUST_STATUS_PACKAGE_REJECTED);
    CHECK(content == SENTINEL && strstr(last_error(), "another key") != NULL);
    CHECK_STATUS(cust_package_open(package, package_len - 1, secret, 32, &content), CUST_STATUS_PACKAGE_REJECTED);
    CHECK_STATUS(cust_package_open(package, 40, secret, 32, &content), CUST_STATUS_PACKAGE_REJECTED);
    CHECK_STATUS(cust_package_open(package, package_len, secret, 31, &content), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cust_package_open(package, package_len, NULL, 32, &content), N);
    CHECK_STATUS(cust_package_open(package, package_len, secret, 32, NULL), N);
    uint8_t *altered = malloc(package_len);
    CHECK(altered != NULL);
    if (altered != NULL) {
        memcpy(altered, package, package_len);
        altered[package_len / 2] ^= 0x20;
        CHECK_STATUS(cust_package_open(altered, package_len, secret, 32, &content), CUST_STATUS_PACKAGE_REJECTED);
        CHECK_STATUS(cust_package_verify(altered, package_len, &json), CUST_STATUS_PACKAGE_REJECTED);
        free(altered);
    }
    CHECK(content == SENTINEL && json == SENTINEL);
    cust_bytes_free(package, package_len);
    cust_memzero(secret, sizeof secret);
    cust_memzero(other_secret, sizeof other_secret);

    /* The customer's account: every share and every disclosure, field names only. */
    CHECK_STATUS(cust_customer_shares_json(clerk, ids[0], &json), CUST_STATUS_DENIED);
    CHECK_STATUS(cust_customer_shares_json(compliance, ids[0], NULL), N);
    OK(cust_customer_shares_json(compliance, ids[0], &json));
    CHECK(strstr(json, "\"inside_now\":true") != NULL && strstr(json, "\"action\":\"share.get\"") != NULL);
    CHECK(strstr(json, "\"action\":\"share.list\"") != NULL && strstr(json, "\"action\":\"share.package\"") != NULL);
    CHECK(strstr(json, "\"recipient\":\"acme\"") != NULL && strstr(json, "\"fields\":[\"mobile\",\"name\"]") != NULL);
    CHECK(strstr(json, "13900000070") == NULL);
    cust_string_free(json);
    OK(cust_customer_shares_json(compliance, ids[2], &json));
    CHECK(strstr(json, "\"inside_now\":false,\"disclosures\":[]") != NULL);
    cust_string_free(json);
    OK(cust_customer_shares_json(compliance, ids[3], &json));
    CHECK(strstr(json, "\"inside_now\":false") != NULL && strstr(json, "\"action\":\"share.get\"") != NULL);
    cust_string_free(json);

    /* Revocation: the open session sees nothing from its next call on. */
    json = SENTINEL;
    CHECK_STATUS(cust_share_revoke(admin, share_id, "", &json), CUST_STATUS_INVALID);
    CHECK_STATUS(cust_share_revoke(admin, 999, "contract ended", &json), CUST_STATUS_SHARE_NOT_FOUND);
    CHECK_STATUS(cust_share_revoke(admin, share_id, NULL, &json), N);
    CHECK_STATUS(cust_share_revoke(clerk, share_id, "contract ended", &json), CUST_STATUS_DENIED);
    CHECK(json == SENTINEL);
    OK(cust_share_get(recipient_session, ids[0], &seen));
    cust_customer_free(seen);
    OK(cust_share_revoke(admin, share_id, "contract ended", &json));
    CHECK(strstr(json, "\"revoked\":{") != NULL && strstr(json, "\"reason\":\"contract ended\"") != NULL);
    cust_string_free(json);
    CHECK_STATUS(cust_share_revoke(admin, share_id, "again", NULL), CUST_STATUS_INVALID);
    CHECK(strstr(last_error(), "(rule already_revoked)") != NULL);
    seen = SENTINEL;
    CHECK_STATUS(cust_share_get(recipient_session, ids[0], &seen), CUST_STATUS_DENIED);
    CHECK(seen == SENTINEL && strstr(last_error(), "share.revoked") != NULL);
    OK(cust_share_session_last_error(recipient_session, text, sizeof text, NULL));
    CHECK(strstr(text, "share.revoked") != NULL);
    package = SENTINEL;
    CHECK_STATUS(cust_share_package(recipient_session, &package, &package_len), CUST_STATUS_DENIED);
    CHECK(package == SENTINEL);
    CHECK_STATUS(cust_share_customers(recipient_session, 0, 10, &next, &page), CUST_STATUS_DENIED);
    cust_share_session *again = SENTINEL;
    CHECK_STATUS(cust_share_session_open(store, share_id, &again), CUST_STATUS_DENIED);
    CHECK(again == SENTINEL);
    OK(cust_shares_json(admin, &json));
    CHECK(strstr(json, "\"reason\":\"contract ended\"") != NULL);
    cust_string_free(json);

    /* Revoking a recipient ends its shares too. */
    CHECK_STATUS(cust_recipient_revoke(admin, "nobody_here", "breach", NULL), CUST_STATUS_RECIPIENT_NOT_FOUND);
    CHECK_STATUS(cust_recipient_revoke(admin, NULL, "breach", NULL), N);
    CHECK_STATUS(cust_recipient_revoke(clerk, "acme", "breach", NULL), CUST_STATUS_DENIED);
    OK(cust_share_session_open(store, 2, &again));
    OK(cust_recipient_revoke(admin, "acme", "breach", &json));
    CHECK(strstr(json, "\"revoked\":{") != NULL && strstr(json, "\"reason\":\"breach\"") != NULL);
    cust_string_free(json);
    CHECK_STATUS(cust_share_customers(again, 0, 10, NULL, &page), CUST_STATUS_DENIED);
    CHECK(strstr(last_error(), "share.recipient_revoked") != NULL);
    CHECK_STATUS(cust_recipient_revoke(admin, "acme", "again", NULL), CUST_STATUS_INVALID);

    cust_share_session_close(again);
    cust_share_session_close(recipient_session);
    cust_share_session_close(NULL);
    cust_session_close(compliance);
    cust_session_close(clerk);
    cust_session_close(admin);
    cust_store_close(store);
}

/* A store on a PostgreSQL server, when the environment names one
 * (CUSTODIAN_TEST_DATABASE_URL and CUSTODIAN_TEST_KEY_STORE_URL, set by
 * .ci/postgres.sh); otherwise only the refusals. The schema is new for each
 * run: its name hashes the run's own temporary directory and the time. */
static void test_postgres(const char *dir) {
    const char *data = getenv("CUSTODIAN_TEST_DATABASE_URL");
    const char *keys = getenv("CUSTODIAN_TEST_KEY_STORE_URL");
    cust_store *store = SENTINEL;
    CHECK_STATUS(cust_store_create_url(NULL, "dbname=k", NULL, KEY, 32, &store), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_store_open_url("dbname=d", NULL, NULL, KEY, 32, &store), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_store_open_url("dbname=d", "dbname=k", BAD_UTF8, KEY, 32, &store), CUST_STATUS_INVALID_UTF8);
    CHECK_STATUS(cust_store_open_url("dbname=d", "dbname=k", NULL, KEY, 32, NULL), CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_store_open_url_passphrase(NULL, "dbname=k", NULL, "a long passphrase 2026", &store),
                 CUST_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(cust_store_create_url_passphrase("dbname=d", "dbname=k", NULL, "a long passphrase 2026", 100000,
                                                  NULL),
                 CUST_STATUS_NULL_ARGUMENT);
    CHECK(store == SENTINEL);
    if (data == NULL || keys == NULL) {
        /* Built without the backend, or no server: refused, nothing handed out. */
        cust_status got = cust_store_open_url("host=127.0.0.1 port=1 dbname=d connect_timeout=2",
                                              "host=127.0.0.1 port=1 dbname=k connect_timeout=2", NULL, KEY, 32,
                                              &store);
        CHECK(got == CUST_STATUS_INVALID_ARGUMENT || got == CUST_STATUS_STORAGE);
        CHECK(store == SENTINEL);
        printf("postgres: CUSTODIAN_TEST_DATABASE_URL is not set; only the refusals were checked\n");
        return;
    }
    uint32_t hash = 2166136261u;
    for (const char *c = dir; *c; c++) hash = (hash ^ (uint8_t)*c) * 16777619u;
    hash ^= (uint32_t)time(NULL);
    char schema[64];
    snprintf(schema, sizeof schema, "c_api_%08x", (unsigned)hash);
    CHECK_STATUS(cust_store_open_url(data, keys, schema, KEY, 32, &store), CUST_STATUS_NOT_A_STORE);
    CHECK_STATUS(cust_store_create_url(data, keys, "no-such schema!", KEY, 32, &store), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(store == SENTINEL);
    OK(cust_store_create_url(data, keys, schema, KEY, 32, &store));
    cust_store *again = SENTINEL;
    CHECK_STATUS(cust_store_create_url(data, keys, schema, KEY, 32, &again), CUST_STATUS_ALREADY_EXISTS);
    CHECK(again == SENTINEL);
    OK(cust_store_bootstrap_admin(store, "admin", "Administrator"));
    cust_session *admin = NULL, *compliance = NULL;
    cust_customer *customer = NULL;
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    OK(cust_session_open(store, "admin", "compliance", true, 0, &compliance));
    cust_input *input = person("PG001", "周洁", "13600000001");
    OK(cust_customer_create(admin, input, &customer));
    cust_input_free(input);
    int64_t kept = cust_customer_id(customer);
    cust_customer_free(customer);
    input = person("PG002", "吴昊", "13600000002");
    OK(cust_customer_create(admin, input, &customer));
    cust_input_free(input);
    int64_t gone = cust_customer_id(customer);
    cust_customer_free(customer);
    OK(cust_customer_erase(compliance, gone, "dsr-pg"));
    CHECK_STATUS(cust_customer_get(compliance, gone, &customer), CUST_STATUS_NOT_FOUND);
    bool owed = true;
    OK(cust_store_purge_owed(store, &owed));
    CHECK(!owed);
    cust_session_close(compliance);
    cust_session_close(admin);
    uint64_t entries = 0;
    OK(cust_store_verify_audit(store, NULL, &entries));
    CHECK(entries >= 5);
    cust_store_close(store);

    store = SENTINEL;
    CHECK_STATUS(cust_store_open_url(data, keys, schema, WRONG_KEY, 32, &store), CUST_STATUS_WRONG_KEY);
    CHECK(store == SENTINEL);
    OK(cust_store_open_url(data, keys, schema, KEY, 32, &store));
    OK(cust_session_open(store, "admin", "service", true, 0, &admin));
    OK(cust_customer_get(admin, kept, &customer));
    char name[64];
    OK(cust_customer_field(customer, CUST_FIELD_NAME, name, sizeof name, NULL, NULL));
    CHECK(strcmp(name, "周洁") == 0);
    cust_customer_free(customer);
    cust_session_close(admin);
    cust_store_close(store);

    /* A passphrase store in a schema of its own. */
    char passphrase_schema[80];
    snprintf(passphrase_schema, sizeof passphrase_schema, "%s_p", schema);
    store = SENTINEL;
    CHECK_STATUS(cust_store_create_url_passphrase(data, keys, passphrase_schema, "short", 100000, &store),
                 CUST_STATUS_INVALID);
    CHECK_STATUS(cust_store_create_url_passphrase(data, keys, passphrase_schema, NULL, 100000, &store),
                 CUST_STATUS_NULL_ARGUMENT);
    CHECK(store == SENTINEL);
    OK(cust_store_create_url_passphrase(data, keys, passphrase_schema, "a long passphrase 2026", 100000, &store));
    cust_store_close(store);
    store = SENTINEL;
    CHECK_STATUS(cust_store_open_url_passphrase(data, keys, passphrase_schema, "another long passphrase", &store),
                 CUST_STATUS_WRONG_KEY);
    CHECK(store == SENTINEL);
    OK(cust_store_open_url_passphrase(data, keys, passphrase_schema, "a long passphrase 2026", &store));
    cust_store_close(store);
    printf("postgres: a store in schema %s created, used, erased from, verified and reopened\n", schema);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <empty-directory>\n", argv[0]);
        return 2;
    }
    test_basics();
    test_store_lifecycle(argv[1]);
    test_customers(argv[1]);
    test_principals_consent_audit(argv[1]);
    test_legacy_import(argv[1]);
    test_threads(argv[1]);
    test_null_everywhere(argv[1]);
    test_lifecycle(argv[1]);
    test_passphrase_lifecycle(argv[1]);
    test_records(argv[1]);
    test_service_levels(argv[1]);
    test_csv(argv[1]);
    test_csv_problems_only(argv[1]);
    test_duplicates(argv[1]);
    test_four_eyes(argv[1]);
    test_merge(argv[1]);
    test_organisations(argv[1]);
    test_statistics(argv[1]);
    test_sharing(argv[1]);
    test_search_index(argv[1]);
    test_postgres(argv[1]);
    printf("C API checks: %d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
