/* 客户资料管理程序 — the prototype's console (seeds/004), rebuilt on
 * libcustodian.a. Same menus (browse all sorted by any field, browse one by
 * number, insert, delete and modify by number, import the old saved file,
 * exit), but the records live encrypted in a store, every access is checked
 * and audited, and bad input gets a clear message (in Chinese) instead of an
 * overflow.
 *
 *   make -C examples/c                      # builds target/console/console
 *   target/console/console <store-directory>  # reads its choices from standard input
 *
 * The store's passphrase comes from CUSTODIAN_CONSOLE_PASSPHRASE; without it
 * the console refuses to run unless started with --demo (a fixed demo
 * passphrase, never for real data). The first run asks for the operator's
 * id and password and creates the store only once both are accepted; later
 * runs log in. Passwords are not echoed on a terminal. See README.md here. */
#define _XOPEN_SOURCE 700

#include "custodian.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <wchar.h>

#define LINE 512
#define PAGE 1000

static const char *DEMO_PASSPHRASE = "客户资料 demo passphrase, never for real data";

/* The prototype's eight fields, in its order, with their labels. */
static const struct {
    uint32_t field;
    const char *label;
} FIELDS[8] = {
    {CUST_FIELD_EXTERNAL_CODE, "编号"}, {CUST_FIELD_NAME, "姓名"},   {CUST_FIELD_ORGANISATION, "单位"},
    {CUST_FIELD_CATEGORY, "类别"},      {CUST_FIELD_TITLE, "职务"},  {CUST_FIELD_MOBILE, "手机"},
    {CUST_FIELD_EMAIL, "邮箱"},         {CUST_FIELD_NOTES, "备注"},
};

/* Reads one line from standard input without its newline. Returns 0 at end
 * of input; a line longer than the buffer is discarded whole and reported. */
static int read_line(const char *prompt, char *buf, size_t len) {
    for (;;) {
        printf("%s", prompt);
        fflush(stdout);
        if (fgets(buf, (int)len, stdin) == NULL) {
            return 0;
        }
        size_t n = strlen(buf);
        if (n > 0 && buf[n - 1] == '\n') {
            buf[n - 1] = 0;
            if (n > 1 && buf[n - 2] == '\r') {
                buf[n - 2] = 0;
            }
            return 1;
        }
        if (feof(stdin)) {
            return 1;
        }
        int c;
        while ((c = getchar()) != '\n' && c != EOF) {
        }
        printf("输入过长（最多 %u 字节），请重新输入。\n", (unsigned)(len - 1));
    }
}

/* Reads a password: like read_line, but with echo off on a terminal. */
static int read_secret(const char *prompt, char *buf, size_t len) {
    struct termios saved, quiet;
    int terminal = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (terminal) {
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    int got = read_line(prompt, buf, len);
    if (terminal) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        printf("\n");
    }
    return got;
}

/* Asks a yes/no question; only 是/y/Y count as yes. */
static int confirm(const char *prompt) {
    char buf[LINE];
    if (!read_line(prompt, buf, sizeof buf)) return 0;
    return strcmp(buf, "y") == 0 || strcmp(buf, "Y") == 0 || strcmp(buf, "是") == 0;
}

/* Reads a menu choice between 1 and max; 0 at end of input. */
static int read_choice(const char *prompt, int max) {
    char buf[LINE];
    for (;;) {
        if (!read_line(prompt, buf, sizeof buf)) {
            return 0;
        }
        if (strlen(buf) == 1 && buf[0] >= '1' && buf[0] < '1' + max) {
            return buf[0] - '0';
        }
        printf("请输入 1 到 %d 之间的数字。\n", max);
    }
}

/* Chinese for the statuses a console user meets. */
static const char *status_text(cust_status status) {
    switch (status) {
    case CUST_STATUS_INVALID: return "输入不符合要求";
    case CUST_STATUS_UNKNOWN_FIELD: return "没有这个字段";
    case CUST_STATUS_NOT_FOUND: return "没有这个客户";
    case CUST_STATUS_CODE_NOT_FOUND: return "没有这个编号的客户";
    case CUST_STATUS_DUPLICATE_CODE: return "编号已被其他客户使用";
    case CUST_STATUS_VERSION_CONFLICT: return "资料已被他人修改，请重新读取后再改";
    case CUST_STATUS_LEGAL_HOLD: return "该客户处于法律保全中，不能删除";
    case CUST_STATUS_DENIED: return "没有权限";
    case CUST_STATUS_WRONG_KEY: return "资料库口令错误";
    case CUST_STATUS_ALREADY_EXISTS: return "资料库已存在";
    case CUST_STATUS_NOT_A_STORE: return "这里没有资料库";
    case CUST_STATUS_CORRUPT: return "资料库文件已损坏";
    case CUST_STATUS_BUSY: return "资料库正忙，请稍后再试";
    case CUST_STATUS_STORE_OPEN: return "资料库正在使用中";
    case CUST_STATUS_INVALID_ARGUMENT: return "参数超出范围";
    default: return "操作未完成";
    }
}

/* Chinese for the rule ids behind refusals and validation failures. */
static const struct {
    const char *rule;
    const char *text;
} RULES[] = {
    {"mobile_format", "手机号码格式不正确（11 位手机号，可带 +86）"},
    {"email_syntax", "邮箱地址格式不正确"},
    {"required", "不能为空"},
    {"too_long", "内容过长"},
    {"control_character", "含有控制字符"},
    {"invalid_character", "含有不允许的字符"},
    {"duplicate_code", "编号重复"},
    {"password_length", "密码太短（至少 10 个字符）"},
    {"principal_id", "账号须为 1 到 64 个可打印字符，首尾不能有空格"},
    {"principal_exists", "账号已存在"},
    {"login.failed", "账号、密码或验证码错误"},
    {"login.locked", "登录失败次数过多，账号已被暂时锁定"},
    {"principal.unknown", "账号不存在"},
    {"principal.revoked", "账号已停用"},
    {"builtin.customer_service.no_delete", "客服岗位不能删除客户"},
    {"builtin.write_not_permitted", "无权修改该字段"},
    {"subject.restricted", "该客户已要求限制处理"},
};

/* The prototype's field labels by the library's field names. */
static const struct {
    const char *name;
    const char *label;
} FIELD_NAMES[] = {
    {"external_code", "编号"}, {"name", "姓名"},   {"organisation", "单位"}, {"category", "类别"},
    {"title", "职务"},         {"mobile", "手机"}, {"email", "邮箱"},        {"notes", "备注"},
    {"password", "密码"},      {"principal", "账号"},
};

/* Copies into `out` the text that follows `marker` in `message`, up to `end`. */
static int extract(const char *message, const char *marker, char end, char *out, size_t len) {
    const char *start = strstr(message, marker);
    if (start == NULL) return 0;
    start += strlen(marker);
    const char *stop = strchr(start, end);
    size_t n = stop ? (size_t)(stop - start) : strlen(start);
    if (n == 0 || n >= len) return 0;
    memcpy(out, start, n);
    out[n] = 0;
    return 1;
}

/* The library field name a failure message names (`field 'mobile'`), or "". */
static void failed_field(const char *message, char *out, size_t len) {
    if (!extract(message, "field '", '\'', out, len)) out[0] = 0;
}

/* Prints why the last call on `session` failed, in Chinese, with the
 * library's own message (never a personal value) as the detail. */
static void report(cust_session *session, cust_status status) {
    char message[1024], field[64], rule[96];
    if (session == NULL || cust_session_last_error(session, message, sizeof message, NULL) != CUST_STATUS_OK) {
        cust_last_error(message, sizeof message, NULL);
    }
    printf("操作失败：%s", status_text(status));
    failed_field(message, field, sizeof field);
    for (size_t i = 0; field[0] && i < sizeof FIELD_NAMES / sizeof FIELD_NAMES[0]; i++) {
        if (strcmp(field, FIELD_NAMES[i].name) == 0) printf("（%s）", FIELD_NAMES[i].label);
    }
    if (extract(message, "(rule ", ')', rule, sizeof rule) || extract(message, "denied by rule ", ':', rule, sizeof rule)) {
        for (size_t i = 0; i < sizeof RULES / sizeof RULES[0]; i++) {
            if (strcmp(rule, RULES[i].rule) == 0) printf("：%s", RULES[i].text);
        }
    }
    printf("。\n  详情：%s\n", message);
}

/* Columns of the listing, in display columns (a CJK character takes two). */
static const int WIDTHS[8] = {10, 10, 24, 8, 8, 12, 24, 0};

/* Display columns of one character: wcwidth in a UTF-8 locale; without one,
 * a three- or four-byte UTF-8 sequence (CJK) counts two. */
static int char_width(const char *s, size_t *bytes) {
    mbstate_t state;
    wchar_t wc;
    memset(&state, 0, sizeof state);
    size_t n = MB_CUR_MAX > 1 ? mbrtowc(&wc, s, strlen(s), &state) : (size_t)-1;
    if (n != (size_t)-1 && n != (size_t)-2 && n != 0) {
        int w = wcwidth(wc);
        *bytes = n;
        return w < 0 ? 1 : w;
    }
    unsigned char c = (unsigned char)s[0];
    *bytes = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    for (size_t i = 1; i < *bytes; i++) {
        if (s[i] == 0) *bytes = i;
    }
    return *bytes >= 3 ? 2 : 1;
}

/* Prints `text` in a column `width` display columns wide (0: as is, last
 * column); a value too wide is cut with "…" so the columns stay aligned. */
static void print_cell(const char *text, int width) {
    if (width == 0) {
        printf("%s", text);
        return;
    }
    int used = 0, total = 0;
    size_t bytes = 0;
    for (const char *p = text; *p; p += bytes) total += char_width(p, &bytes);
    const char *p = text;
    while (*p) {
        int w = char_width(p, &bytes);
        if (used + w > (total > width ? width - 1 : width)) break;
        fwrite(p, 1, bytes, stdout);
        used += w;
        p += bytes;
    }
    if (*p) {
        printf("…");
        used++;
    }
    printf("%*s ", width - used, "");
}

static void print_header(void) {
    for (int i = 0; i < 8; i++) print_cell(FIELDS[i].label, WIDTHS[i]);
    printf("\n");
}

static void print_row(const cust_customer *c) {
    char value[LINE];
    for (int i = 0; i < 8; i++) {
        if (cust_customer_field(c, FIELDS[i].field, value, LINE, NULL, NULL) != CUST_STATUS_OK) {
            strcpy(value, "?");
        }
        print_cell(value, WIDTHS[i]);
    }
    char status[32];
    cust_customer_field(c, CUST_FIELD_STATUS, status, sizeof status, NULL, NULL);
    printf("%s\n", strcmp(status, "unverified") == 0 ? "  [待审核]" : "");
}

static void browse_all(cust_session *session) {
    printf("排序字段：1.编号 2.姓名 3.单位 4.类别 5.职务 6.手机 7.邮箱 8.备注\n");
    int field = read_choice("请选择排序字段：", 8);
    if (!field) return;
    int order = read_choice("1.升序 2.降序，请选择：", 2);
    if (!order) return;
    cust_list *list = NULL;
    cust_status s = cust_customer_list(session, FIELDS[field - 1].field, order == 2, 0, PAGE, &list);
    if (s != CUST_STATUS_OK) {
        report(session, s);
        return;
    }
    if (cust_list_len(list) == 0) {
        printf("暂无资料！\n");
    } else {
        printf("共 %llu 条资料（按%s%s）：\n", (unsigned long long)cust_list_total(list), FIELDS[field - 1].label,
               order == 2 ? "降序" : "升序");
        print_header();
        for (size_t i = 0; i < cust_list_len(list); i++) {
            const cust_customer *c = NULL;
            if (cust_list_get(list, i, &c) == CUST_STATUS_OK) {
                print_row(c);
            }
        }
    }
    cust_list_free(list);
}

/* Finds a customer by number; prints why not. */
static cust_customer *by_number(cust_session *session, const char *prompt) {
    char code[LINE];
    if (!read_line(prompt, code, sizeof code)) return NULL;
    cust_customer *c = NULL;
    cust_status s = cust_customer_get_by_code(session, code, &c);
    if (s == CUST_STATUS_CODE_NOT_FOUND) {
        printf("没有编号为 %s 的客户。\n", code);
        return NULL;
    }
    if (s != CUST_STATUS_OK) {
        report(session, s);
        return NULL;
    }
    return c;
}

static void browse_one(cust_session *session) {
    cust_customer *c = by_number(session, "请输入编号：");
    if (c == NULL) return;
    print_header();
    print_row(c);
    cust_customer_free(c);
}

/* The index in FIELDS of the field a failure message names, or -1. */
static int failed_index(cust_session *session) {
    char message[1024], field[64];
    if (cust_session_last_error(session, message, sizeof message, NULL) != CUST_STATUS_OK) return -1;
    failed_field(message, field, sizeof field);
    for (int i = 0; i < 8; i++) {
        if (strcmp(field, FIELD_NAMES[i].name) == 0) return i;
    }
    return -1;
}

/* Asks for the eight fields and creates the customer. A refused value is
 * named, and the user corrects just that field (or gives up): nothing typed
 * is lost. */
static void insert_values(cust_session *session, char values[8][LINE]);

static void insert(cust_session *session) {
    char values[8][LINE], prompt[64];
    memset(values, 0, sizeof values);
    int complete = 1;
    for (int i = 0; complete && i < 8; i++) {
        snprintf(prompt, sizeof prompt, "%s：", FIELDS[i].label);
        complete = read_line(prompt, values[i], sizeof values[i]);
    }
    if (complete) insert_values(session, values);
    cust_memzero((uint8_t *)values, sizeof values);
}

static void insert_values(cust_session *session, char values[8][LINE]) {
    char prompt[LINE + 64], corrected[LINE];
    for (;;) {
        cust_input *input = NULL;
        cust_status s = cust_input_new(CUST_KIND_INDIVIDUAL, &input);
        for (int i = 0; s == CUST_STATUS_OK && i < 8; i++) {
            if (values[i][0] != 0) s = cust_input_set(input, FIELDS[i].field, values[i]);
        }
        cust_customer *c = NULL;
        if (s == CUST_STATUS_OK) s = cust_customer_create(session, input, &c);
        cust_input_free(input);
        if (s == CUST_STATUS_OK) {
            printf("已添加客户 %lld。\n", (long long)cust_customer_id(c));
            cust_customer_free(c);
            return;
        }
        report(session, s);
        int index = failed_index(session);
        if (index < 0 || read_choice("1.修改该项后重新保存 2.放弃，请选择：", 2) != 1) {
            printf("未添加。\n");
            return;
        }
        snprintf(prompt, sizeof prompt, "%s [%s]：", FIELDS[index].label, values[index]);
        if (!read_line(prompt, corrected, sizeof corrected)) return;
        memcpy(values[index], corrected, LINE);
        cust_memzero((uint8_t *)corrected, sizeof corrected);
    }
}

static void delete_one(cust_session *session) {
    cust_customer *c = by_number(session, "请输入要删除的编号：");
    if (c == NULL) return;
    print_header();
    print_row(c);
    if (!confirm("确认删除这位客户吗？删除后无法恢复（y/n）：")) {
        printf("未删除。\n");
        cust_customer_free(c);
        return;
    }
    cust_status s = cust_customer_delete(session, cust_customer_id(c));
    if (s == CUST_STATUS_OK) {
        printf("已删除。\n");
    } else {
        report(session, s);
    }
    cust_customer_free(c);
}

static void modify(cust_session *session) {
    cust_customer *c = by_number(session, "请输入要修改的编号：");
    if (c == NULL) return;
    printf("直接回车保留原值，输入 - 清空。\n");
    cust_input *patch = NULL;
    cust_status s = cust_input_new(CUST_KIND_INDIVIDUAL, &patch);
    char value[LINE], current[LINE], prompt[LINE + 64];
    int changed = 0;
    for (int i = 0; s == CUST_STATUS_OK && i < 8; i++) {
        cust_customer_field(c, FIELDS[i].field, current, sizeof current, NULL, NULL);
        snprintf(prompt, sizeof prompt, "%s [%s]：", FIELDS[i].label, current);
        if (!read_line(prompt, value, sizeof value)) break;
        if (value[0] == 0) continue;
        s = cust_input_set(patch, FIELDS[i].field, strcmp(value, "-") == 0 ? NULL : value);
        changed = 1;
    }
    if (s != CUST_STATUS_OK) {
        report(NULL, s);
    } else if (!changed) {
        printf("未作修改。\n");
    } else {
        cust_customer *updated = NULL;
        s = cust_customer_update(session, cust_customer_id(c), cust_customer_version(c), patch, &updated);
        if (s == CUST_STATUS_OK) {
            printf("已修改。\n");
            print_header();
            print_row(updated);
            cust_customer_free(updated);
        } else {
            report(session, s);
        }
    }
    cust_input_free(patch);
    cust_customer_free(c);
}

static void import_legacy(cust_session *session) {
    char path[LINE];
    if (!read_line("旧版资料文件路径：", path, sizeof path)) return;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        printf("无法打开文件 %s。\n", path);
        return;
    }
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            size_t bigger = cap ? cap * 2 : 4096;
            uint8_t *grown = realloc(data, bigger);
            if (grown == NULL) {
                printf("内存不足。\n");
                free(data);
                fclose(f);
                return;
            }
            data = grown;
            cap = bigger;
        }
        size_t n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    fclose(f);
    cust_import_report *result = NULL;
    cust_status s = cust_import_khzl(session, data, len, &result);
    cust_memzero(data, len);
    free(data);
    if (s != CUST_STATUS_OK) {
        report(session, s);
        return;
    }
    size_t rows = cust_import_report_len(result), unverified = 0;
    for (size_t i = 0; i < rows; i++) {
        size_t slot = 0, problems = 0;
        bool verified = true;
        cust_import_report_row(result, i, &slot, NULL, &verified, &problems);
        if (!verified) unverified++;
        for (size_t p = 0; p < problems; p++) {
            char text[LINE];
            cust_import_report_problem(result, i, p, text, sizeof text, NULL);
            printf("  第 %u 条记录：%s\n", (unsigned)slot, text);
        }
    }
    printf("导入 %u 条记录，其中 %u 条待审核。\n", (unsigned)rows, (unsigned)unverified);
    size_t matched = cust_import_report_matched_len(result), present = 0;
    for (size_t i = 0; i < matched; i++) {
        size_t slot = 0;
        uint32_t outcome = CUST_MATCH_PRESENT;
        char fields[LINE];
        cust_import_report_matched(result, i, &slot, NULL, &outcome, fields, sizeof fields, NULL);
        if (outcome == CUST_MATCH_PRESENT) {
            present++;
        } else {
            printf("  第 %u 条记录：编号已有客户，但资料不同（%s），未导入。\n", (unsigned)slot, fields);
        }
    }
    if (matched > 0) {
        printf("另有 %u 条记录的编号已有客户，其中 %u 条资料相同，未重复导入。\n", (unsigned)matched, (unsigned)present);
    }
    cust_import_report_free(result);
}

/* Removes a store directory the console made (its known files, then itself). */
static void remove_store_dir(const char *dir) {
    static const char *const FILES[] = {"customers.db", "customers.db-wal", "customers.db-shm",
                                        "keys.db",      "keys.db-wal",      "keys.db-shm"};
    char path[LINE * 2];
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, FILES[i]);
        remove(path);
    }
    remove(dir);
}

/* Creates the store with its operator in a staging directory beside `dir`,
 * and moves it into place only when the operator's id and password were
 * accepted: a refused first run leaves no store behind. */
static cust_store *create_store(const char *dir, const char *passphrase) {
    char staging[LINE + 16], id[LINE], password[LINE], again[LINE];
    snprintf(staging, sizeof staging, "%s.setup", dir);
    printf("新建资料库 %s。\n", dir);
    for (int attempt = 0; attempt < 3; attempt++) {
        if (!read_line("设置管理员账号：", id, sizeof id) ||
            !read_secret("设置管理员密码（至少 10 个字符）：", password, sizeof password) ||
            !read_secret("再次输入密码：", again, sizeof again)) {
            break;
        }
        int same = strcmp(password, again) == 0;
        cust_memzero((uint8_t *)again, sizeof again);
        if (!same) {
            printf("两次输入的密码不一致，请重新设置。\n");
            continue;
        }
        remove_store_dir(staging);
        cust_store *store = NULL;
        cust_session *setup = NULL;
        cust_status s = cust_store_create_passphrase(staging, passphrase, 0, &store);
        if (s == CUST_STATUS_OK) s = cust_store_bootstrap_admin(store, id, "console operator");
        if (s == CUST_STATUS_OK) s = cust_session_open(store, id, "maintenance", false, 0, &setup);
        if (s == CUST_STATUS_OK) s = cust_principal_set_password(setup, id, password);
        cust_memzero((uint8_t *)password, sizeof password);
        if (s != CUST_STATUS_OK) report(setup, s);
        cust_session_close(setup);
        cust_store_close(store);
        if (s != CUST_STATUS_OK) {
            remove_store_dir(staging);
            printf("资料库未建立，请重新设置。\n");
            continue;
        }
        if (rename(staging, dir) != 0) {
            printf("无法建立资料库目录 %s（它已存在且不为空？）。\n", dir);
            remove_store_dir(staging);
            return NULL;
        }
        s = cust_store_open_passphrase(dir, passphrase, &store);
        if (s != CUST_STATUS_OK) {
            report(NULL, s);
            return NULL;
        }
        return store;
    }
    cust_memzero((uint8_t *)password, sizeof password);
    printf("未建立资料库。\n");
    return NULL;
}

/* Opens the store, creating it (and its operator) on the first run. */
static cust_store *open_store(const char *dir, const char *passphrase) {
    cust_store *store = NULL;
    cust_status s = cust_store_open_passphrase(dir, passphrase, &store);
    if (s == CUST_STATUS_OK) return store;
    if (s != CUST_STATUS_NOT_A_STORE) {
        report(NULL, s);
        return NULL;
    }
    return create_store(dir, passphrase);
}

int main(int argc, char **argv) {
    int demo = argc == 3 && strcmp(argv[1], "--demo") == 0;
    if (argc != 2 + demo || argv[argc - 1][0] == '-') {
        fprintf(stderr, "usage: %s [--demo] <store-directory>\n", argv[0]);
        return 2;
    }
    /* Display widths of CJK text need a UTF-8 locale. */
    if (setlocale(LC_CTYPE, "") == NULL || MB_CUR_MAX == 1) setlocale(LC_CTYPE, "C.UTF-8");
    const char *passphrase = getenv("CUSTODIAN_CONSOLE_PASSPHRASE");
    if (passphrase == NULL || passphrase[0] == 0) {
        if (!demo) {
            printf("未设置 CUSTODIAN_CONSOLE_PASSPHRASE：没有口令就不能打开或新建资料库。\n"
                   "仅作演示时可加 --demo 使用固定的演示口令（切勿用于真实资料）。\n");
            return 1;
        }
        printf("注意：演示模式，使用固定的演示口令（切勿用于真实资料）。\n");
        passphrase = DEMO_PASSPHRASE;
    }
    cust_store *store = open_store(argv[argc - 1], passphrase);
    if (store == NULL) return 1;

    char id[LINE], password[LINE];
    cust_session *session = NULL;
    for (int attempt = 0; session == NULL; attempt++) {
        if (attempt == 3 || !read_line("账号：", id, sizeof id) || !read_secret("密码：", password, sizeof password)) {
            cust_store_close(store);
            return 1;
        }
        cust_status s = cust_session_login(store, id, password, NULL, "service", &session);
        cust_memzero((uint8_t *)password, sizeof password);
        if (s != CUST_STATUS_OK) report(NULL, s);
    }
    for (;;) {
        printf("\n┌──────────────────┐\n│ 客户资料管理程序 │\n├──────────────────┤\n");
        printf("│ 1.资料浏览       │\n│ 2.资料编辑       │\n│ 3.载入旧版文件   │\n│ 4.退出           │\n");
        printf("└──────────────────┘\n");
        int choice = read_choice("请选择：", 4);
        if (choice == 0 || choice == 4) break;
        if (choice == 1) {
            int k = read_choice("1.浏览全部资料 2.浏览单个资料 3.返回，请选择：", 3);
            if (k == 1) browse_all(session);
            if (k == 2) browse_one(session);
        } else if (choice == 2) {
            int k = read_choice("1.添加 2.删除 3.修改 4.返回，请选择：", 4);
            if (k == 1) insert(session);
            if (k == 2) delete_one(session);
            if (k == 3) modify(session);
        } else if (choice == 3) {
            import_legacy(session);
        }
    }
    printf("再见。\n");
    cust_session_close(session);
    cust_store_close(store);
    return 0;
}
