/* demo_data.c — `kabinetd demo-data --accounts N [--months M]`: fills an empty database with a retailer that looks
 * real: two branches in two time zones (Ставрополь UTC+3 with a reading window 15th–26th, Абакан UTC+7 without),
 * three tariffs (single-rate, day/night, rural), N accounts (every 10th without a meter, day/night meters on the
 * two-zone tariff, ratio 200 on every 50th (5, 55, …), 5- and 6-digit meters, verification dates from past due to years
 * ahead), M months (24 by default) of billing's readings, charges and credited payments, a few debts with
 * penalties, overpayments, and registered customers with their accounts linked (20 by default, reached by SMS;
 * --customers N adds Telegram users up to N, user id 5000000000 + the account's ordinal); and a business, ООО
 * «Ромашка» (contract 2600-0001, INN 2634012345, its phone +79990000900), with two supply points, accounts 2600000001
 * (a shop) and 2600000002 (a warehouse metered through current transformers, ratio 200). The seeds' own cases come first:
 * account 1800000001 (Абакан) has a 5-digit meter whose last reading is 29700; account 1800000002 is overpaid;
 * account 1800000003 owes penalties of 118,95. Set-based SQL in one transaction: a million accounts take minutes,
 * not hours. */
#include <stdio.h>
#include <stdlib.h>
#include "demo_data.h"
#include "err.h"
#include "pgcli.h"

/* $1: accounts, $2: months, $3: customers. g is an account's ordinal, derived from its number 18NNNNNNNN. */
static const char *const steps[] = {
    "INSERT INTO kb_branch (code, name, utc_offset_min, window_from, window_to, outside_window, bank) VALUES "
    "('stv', 'Ставропольский филиал', 180, 15, 26, 'review', '{\"recipient\": \"АО «Демо-энергосбыт»\","
    " \"inn\": \"2600000001\", \"kpp\": \"263401001\", \"bik\": \"040702000\", \"account\": \"40702810000000000001\","
    " \"corr_account\": \"30101810000000000001\", \"bank_name\": \"Демо-банк, Ставрополь\"}'),"
    "('khk', 'Абаканский участок', 420, NULL, NULL, 'review', '{\"recipient\": \"АО «Демо-энергосбыт»\","
    " \"inn\": \"2600000001\", \"kpp\": \"190143001\", \"bik\": \"049514000\", \"account\": \"40702810000000000002\","
    " \"corr_account\": \"30101810000000000002\", \"bank_name\": \"Демо-банк, Абакан\"}')",

    "WITH t AS (INSERT INTO kb_tariff (code, name, area, zones, valid_from) VALUES"
    " ('city-1', 'Население городское, одноставочный', 'city', 1, '2020-01-01'),"
    " ('city-2', 'Население городское, день/ночь', 'city', 2, '2020-01-01'),"
    " ('rural-1', 'Население сельское, одноставочный', 'rural', 1, '2020-01-01'),"
    " ('biz-1', 'Прочие потребители, одноставочный', 'city', 1, '2020-01-01') RETURNING id, code) "
    "INSERT INTO kb_tariff_rate (tariff_id, zone, rate) SELECT t.id, v.zone, v.rate FROM t JOIN (VALUES"
    " ('city-1', 1, 5.87), ('city-2', 1, 6.78), ('city-2', 2, 3.39), ('rural-1', 1, 4.11), ('biz-1', 1, 8.52))"
    " v(code, zone, rate) ON v.code = t.code",

    "INSERT INTO kb_account (number, settlement_code, holder_surname, address, branch_id, tariff_code, residents,"
    " area_m2, els_code) "
    "SELECT (1800000000 + g)::text, '18', (ARRAY['Иванова', 'Петров', 'Алёшина', 'Сидоров', 'Кузнецова', 'Смирнов',"
    "  'Попова', 'Васильев', 'Соколова', 'Михайлов', 'Новикова', 'Фёдоров', 'Морозова', 'Волков', 'Лебедева',"
    "  'Семёнов'])[1 + g % 16],"
    " CASE WHEN g % 2 = 1 THEN 'г. Абакан, ул. ' ELSE 'г. Ставрополь, ул. ' END || (ARRAY['Ленина', 'Щетинкина',"
    "  'Пушкина', 'Мира', 'Садовая', 'Гагарина', 'Советская', 'Кирова', 'Титова', 'Чкалова'])[1 + g % 10]"
    "  || ', д. ' || (1 + g % 120) || ', кв. ' || (1 + g % 180),"
    " (SELECT id FROM kb_branch WHERE code = CASE WHEN g % 2 = 1 THEN 'khk' ELSE 'stv' END),"
    " CASE WHEN g % 4 = 0 THEN 'city-2' WHEN g % 7 = 0 THEN 'rural-1' ELSE 'city-1' END, 1 + g % 5, 30 + g % 60,"
    " CASE WHEN g < 1000000 THEN '77МН' || lpad(g::text, 6, '0') END "
    "FROM generate_series(1, $1::int) g",

    /* a business (seeds 000, 004): contract 2600-0001 of ООО «Ромашка», INN 2634012345, two supply points — a shop
     * and a warehouse whose meter counts through current transformers (ratio 200); codes go to its phone */
    "WITH c AS (INSERT INTO kb_customer (kind, org_name, inn, kpp, contract_no, contract_date, phone, email, address)"
    " VALUES ('business', 'ООО «Ромашка»', '2634012345', '263401001', '2600-0001', '2021-03-01', '+79990000900',"
    " 'buh@romashka.example', 'г. Ставрополь, ул. Ленина, д. 1') RETURNING id), "
    "a AS (INSERT INTO kb_account (number, settlement_code, holder_surname, address, branch_id, tariff_code,"
    " customer_kind) SELECT v.number, '26', 'ООО «Ромашка»', v.address, (SELECT id FROM kb_branch WHERE code = 'stv'),"
    " 'biz-1', 'business' FROM (VALUES ('2600000001', 'г. Ставрополь, ул. Ленина, д. 1'),"
    " ('2600000002', 'г. Ставрополь, ул. Промышленная, д. 7')) v(number, address) RETURNING id, number, address), "
    "p AS (INSERT INTO kb_supply_point (customer_id, account_id, name, address)"
    " SELECT c.id, a.id, CASE WHEN a.number = '2600000001' THEN 'Магазин' ELSE 'Склад' END, a.address FROM c, a) "
    "INSERT INTO kb_account_link (customer_id, account_id, is_primary, status, proof, approved_by)"
    " SELECT c.id, a.id, a.number = '2600000001', 'active', 'import', 'demo-data' FROM c, a",

    "INSERT INTO kb_meter (account_id, serial, model, digits, ratio, zones, installed_on, verify_by) "
    "SELECT a.id, CASE WHEN a.number = '2600000001' THEN 'МР-000001' ELSE 'ТТ-000200' END, 'Меркурий 230',"
    " CASE WHEN a.number = '2600000001' THEN 6 ELSE 5 END, CASE WHEN a.number = '2600000001' THEN 1 ELSE 200 END, 1,"
    " current_date - 1000, current_date + 2000 FROM kb_account a WHERE a.customer_kind = 'business'",

    "INSERT INTO kb_meter (account_id, serial, model, digits, ratio, zones, installed_on, verify_by) "
    "SELECT a.id, '01' || lpad(g::text, 8, '0'),"
    " CASE WHEN a.tariff_code = 'city-2' THEN 'Меркурий 200.02' WHEN g = 1 THEN 'СКАТ 101Э'"
    "      ELSE (ARRAY['ЦЭ6807Б', 'Меркурий 201', 'СКАТ 101Э'])[1 + g % 3] END,"
    " CASE WHEN g % 3 = 0 THEN 6 ELSE 5 END, CASE WHEN g % 50 = 5 THEN 200 ELSE 1 END,"
    " CASE WHEN a.tariff_code = 'city-2' THEN 2 ELSE 1 END,"
    " current_date - (365 * (2 + g % 10))::int, current_date + ((g * 37) % 1500 - 200)::int "
    "FROM kb_account a, LATERAL (SELECT a.number::bigint - 1800000000 AS g) n WHERE g % 10 <> 0"
    " AND a.customer_kind = 'person'",

    /* monthly use u per zone; the last reading of account 1's meter is 29700 */
    "INSERT INTO kb_reading (meter_id, zone, value, local_day, taken_at, source, status, consumption) "
    "SELECT m.id, z, (CASE WHEN g = 1 THEN 29700 - ($2::int - 1) * u ELSE (g * 7717) % (10 ^ m.digits / 2)::bigint END"
    "   + ($2::int - k) * u) % (10 ^ m.digits)::bigint,"
    " d.day, (d.day + interval '12 hours' - make_interval(mins => b.utc_offset_min)) AT TIME ZONE 'UTC',"
    " CASE WHEN k % 3 = 0 THEN 'network' ELSE 'receipt' END, 'accepted', CASE WHEN k < $2::int THEN u * m.ratio END "
    "FROM kb_meter m JOIN kb_account a ON a.id = m.account_id JOIN kb_branch b ON b.id = a.branch_id,"
    " LATERAL (SELECT a.number::bigint - 1800000000 AS g) n, generate_series(1, m.zones) z,"
    " LATERAL (SELECT (60 + (g * 13) % 240) / z AS u) use, generate_series(1, $2::int) k,"
    " LATERAL (SELECT (date_trunc('month', kb_local_day(now(), b.utc_offset_min)) - make_interval(months => k)"
    "                  + interval '24 days')::date AS day) d",

    "INSERT INTO kb_charge (account_id, month, zone, kwh, rate, amount_kopecks) "
    "SELECT a.id, mon, z, kwh, r.rate, round(kwh * r.rate * 100)::bigint "
    "FROM kb_account a JOIN kb_branch b ON b.id = a.branch_id LEFT JOIN kb_meter m ON m.account_id = a.id"
    " JOIN kb_tariff t ON t.code = a.tariff_code,"
    " LATERAL (SELECT a.number::bigint - 1800000000 AS g) n, generate_series(1, coalesce(m.zones, 1)) z"
    " JOIN kb_tariff_rate r ON r.zone = z, generate_series(1, $2::int) k,"
    " LATERAL (SELECT (date_trunc('month', kb_local_day(now(), b.utc_offset_min)) - make_interval(months => k))::date AS mon,"
    "          CASE WHEN m.id IS NULL THEN 50 * a.residents ELSE (60 + (g * 13) % 240) / z * m.ratio END AS kwh) c "
    "WHERE r.tariff_id = t.id",

    /* each month's charges are paid on the 10th of the next; every 5th account skipped the last two (a debt), an
     * account with g % 9 = 2 paid 1500 RUB more once (an overpayment) */
    "INSERT INTO kb_payment (account_id, amount_kopecks, purpose, source, status, paid_at, credited_at, billing_id) "
    "SELECT c.account_id, sum(c.amount_kopecks) + CASE WHEN g % 9 = 2 AND c.month = max(c.month) OVER"
    "  (PARTITION BY c.account_id) THEN 150000 ELSE 0 END, 'energy', CASE WHEN g % 2 = 0 THEN 'bank' ELSE 'terminal' END,"
    " 'credited', p.at, p.at + interval '1 day', 'demo-' || c.account_id || '-' || to_char(c.month, 'YYYY-MM') "
    "FROM kb_charge c JOIN kb_account a ON a.id = c.account_id JOIN kb_branch b ON b.id = a.branch_id,"
    " LATERAL (SELECT a.number::bigint - 1800000000 AS g) n,"
    " LATERAL (SELECT (c.month + interval '1 month 9 days 10 hours' - make_interval(mins => b.utc_offset_min))"
    "          AT TIME ZONE 'UTC' AS at) p "
    "WHERE p.at < now() AND NOT (g % 5 = 0 AND c.month >= date_trunc('month', now()) - interval '2 months') "
    "GROUP BY c.account_id, c.month, g, p.at",

    "INSERT INTO kb_penalty (account_id, month, penalty_kopecks) "
    "SELECT a.id, date_trunc('month', now() - interval '1 month')::date, CASE WHEN g = 3 THEN 11895 ELSE 2000 + g % 9000 END "
    "FROM kb_account a, LATERAL (SELECT a.number::bigint - 1800000000 AS g) n WHERE g = 3 OR g % 5 = 0",

    /* the registered customers, each with their account linked (primary): the first twenty by SMS, the rest
     * Telegram users */
    "WITH c AS (INSERT INTO kb_customer (full_name, phone) "
    " SELECT a.holder_surname || ' (демо ' || g || ')', '+7999' || lpad(g::text, 7, '0') FROM kb_account a,"
    "  LATERAL (SELECT a.number::bigint - 1800000000 AS g) n WHERE g <= least($1::int, $3::int) RETURNING id, phone), "
    "i AS (INSERT INTO kb_identity (customer_id, channel, external_id, verified_at)"
    " SELECT id, CASE WHEN right(phone, 7)::int <= 20 THEN 'sms' ELSE 'tg' END,"
    "  CASE WHEN right(phone, 7)::int <= 20 THEN phone ELSE (5000000000 + right(phone, 7)::int)::text END, now() FROM c) "
    "INSERT INTO kb_account_link (customer_id, account_id, is_primary, status, proof, approved_by) "
    "SELECT c.id, a.id, true, 'active', 'import', 'demo-data' FROM c JOIN kb_account a"
    " ON a.number = (1800000000 + right(c.phone, 7)::int)::text",
};

int demo_data_run(const char *conninfo, int accounts, int months, int customers, FILE *report, char *err, size_t errlen)
{
    if (accounts < 3 || accounts > 50000000 || months < 2 || months > 120 || customers < 0 || customers > 9999999) {
        snprintf(err, errlen, "--accounts must be 3 to 50000000, --months 2 to 120 and --customers 0 to 9999999");
        return KB_ERR_INVAL;
    }
    PGconn *pg = pgcli_connect(conninfo, err, errlen);
    if (!pg)
        return KB_ERR_NOTCONN;
    char n[16], m[16], c[16];
    snprintf(n, sizeof n, "%d", accounts);
    snprintf(m, sizeof m, "%d", months);
    snprintf(c, sizeof c, "%d", customers);
    const char *p[] = {n, m, c};
    int rc = KB_ERR_IO;
    PGresult *r = pgcli_exec(pg, "SELECT count(*) FROM kb_account", 0, NULL, err, errlen);
    if (r && atol(PQgetvalue(r, 0, 0)) > 0) {
        snprintf(err, errlen, "the database already has accounts; demo-data fills an empty one");
        rc = KB_ERR_STATE;
    } else if (r && pgcli_run(pg, "BEGIN", 0, NULL, err, errlen) == 0) {
        size_t i = 0;
        for (; i < sizeof steps / sizeof *steps; i++) {
            /* every parameter typed (int4), so that a step may leave some unnamed */
            static const Oid types[] = {23, 23, 23};
            PGresult *s = PQexecParams(pg, steps[i], 3, types, p, NULL, NULL, 0);
            int ok = PQresultStatus(s) == PGRES_COMMAND_OK;
            if (!ok)
                snprintf(err, errlen, "step %zu: %s", i + 1, PQresultErrorMessage(s));
            PQclear(s);
            if (!ok)
                break;
        }
        /* then fresh statistics: a database filled at once has none until autovacuum comes, and plans suffer */
        if (i == sizeof steps / sizeof *steps && pgcli_run(pg, "COMMIT", 0, NULL, err, errlen) == 0 &&
            pgcli_run(pg, "ANALYZE", 0, NULL, err, errlen) == 0) {
            fprintf(report, "demo-data: %d accounts with %d months of history, %d customers\n", accounts, months,
                    customers < accounts ? customers : accounts);
            rc = 0;
        }
    }
    PQclear(r);
    PQfinish(pg);
    return rc;
}
