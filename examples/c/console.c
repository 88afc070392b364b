/* 客户资料管理程序 — the prototype's console (seeds/004), rebuilt on
 * libcustodian.a. Same menus (browse all sorted by any field, browse one by
 * number, insert, delete and modify by number, import the old saved file,
 * exit), but the records live encrypted in a store, every access is checked
 * and audited, and bad input gets a clear message instead of an overflow.
 *
 *   make -C examples/c            # builds ./console against the static library
 *   ./console <store-directory>   # reads its choices from standard input
 *
 * The store's passphrase comes from CUSTODIAN_CONSOLE_PASSPHRASE (a demo
 * passphrase is used, with a warning, if it is unset). The first run creates
 * the store and asks for the operator's id and password; later runs log in. */
#include "custodian.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Prints why the last call on `session` failed. */
static void report(cust_session *session, cust_status status) {
    char message[1024];
    if (session == NULL || cust_session_last_error(session, message, sizeof message, NULL) != CUST_STATUS_OK) {
        cust_last_error(message, sizeof message, NULL);
    }
    printf("操作失败（%s）：%s\n", cust_status_str(status), message);
}

static void print_header(void) {
    printf("%-10s %-10s %-24s %-8s %-8s %-12s %-24s %s\n", "编号", "姓名", "单位", "类别", "职务", "手机", "邮箱",
           "备注");
}

static void print_row(const cust_customer *c) {
    char values[8][LINE];
    for (int i = 0; i < 8; i++) {
        if (cust_customer_field(c, FIELDS[i].field, values[i], LINE, NULL, NULL) != CUST_STATUS_OK) {
            strcpy(values[i], "?");
        }
    }
    char status[32];
    cust_customer_field(c, CUST_FIELD_STATUS, status, sizeof status, NULL, NULL);
    printf("%-10s %-10s %-24s %-8s %-8s %-12s %-24s %s%s\n", values[0], values[1], values[2], values[3], values[4],
           values[5], values[6], values[7], strcmp(status, "unverified") == 0 ? "  [待审核]" : "");
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

static void insert(cust_session *session) {
    cust_input *input = NULL;
    cust_status s = cust_input_new(CUST_KIND_INDIVIDUAL, &input);
    if (s != CUST_STATUS_OK) {
        report(NULL, s);
        return;
    }
    char value[LINE], prompt[64];
    for (int i = 0; i < 8; i++) {
        snprintf(prompt, sizeof prompt, "%s：", FIELDS[i].label);
        if (!read_line(prompt, value, sizeof value)) {
            cust_input_free(input);
            return;
        }
        if (value[0] != 0 && (s = cust_input_set(input, FIELDS[i].field, value)) != CUST_STATUS_OK) {
            report(NULL, s);
            cust_input_free(input);
            return;
        }
    }
    cust_customer *c = NULL;
    s = cust_customer_create(session, input, &c);
    cust_input_free(input);
    if (s != CUST_STATUS_OK) {
        report(session, s);
        return;
    }
    printf("已添加客户 %lld。\n", (long long)cust_customer_id(c));
    cust_customer_free(c);
}

static void delete_one(cust_session *session) {
    cust_customer *c = by_number(session, "请输入要删除的编号：");
    if (c == NULL) return;
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
    cust_import_report_free(result);
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
    printf("新建资料库 %s。\n", dir);
    if ((s = cust_store_create_passphrase(dir, passphrase, 0, &store)) != CUST_STATUS_OK) {
        report(NULL, s);
        return NULL;
    }
    char id[LINE], password[LINE];
    if (!read_line("设置管理员账号：", id, sizeof id) || !read_line("设置管理员密码（至少 10 个字符）：", password, sizeof password)) {
        cust_store_close(store);
        return NULL;
    }
    cust_session *setup = NULL;
    s = cust_store_bootstrap_admin(store, id, "console operator");
    if (s == CUST_STATUS_OK) s = cust_session_open(store, id, "maintenance", false, 0, &setup);
    if (s == CUST_STATUS_OK) s = cust_principal_set_password(setup, id, password);
    cust_memzero((uint8_t *)password, sizeof password);
    if (s != CUST_STATUS_OK) {
        report(setup, s);
        cust_session_close(setup);
        cust_store_close(store);
        return NULL;
    }
    cust_session_close(setup);
    return store;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <store-directory>\n", argv[0]);
        return 2;
    }
    const char *passphrase = getenv("CUSTODIAN_CONSOLE_PASSPHRASE");
    if (passphrase == NULL || passphrase[0] == 0) {
        printf("注意：未设置 CUSTODIAN_CONSOLE_PASSPHRASE，使用演示口令（仅供演示）。\n");
        passphrase = DEMO_PASSPHRASE;
    }
    cust_store *store = open_store(argv[1], passphrase);
    if (store == NULL) return 1;

    char id[LINE], password[LINE];
    cust_session *session = NULL;
    for (int attempt = 0; session == NULL; attempt++) {
        if (attempt == 3 || !read_line("账号：", id, sizeof id) || !read_line("密码：", password, sizeof password)) {
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
