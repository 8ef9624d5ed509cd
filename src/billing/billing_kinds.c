/* billing_kinds.c — what each billing file holds (README, "Billing files"): its columns, the checks a row must
 * pass (each failing row answers with its line and the first reason), and the statements that upsert the rows
 * from the staging table kb_stage into the domain tables. Every upsert changes a row only when something in it
 * differs, so that importing the same file twice changes nothing; each statement answers with the number of rows
 * it changed. The machinery around it (reading the file, COPY, reports) is billing_import.c. */
#include <string.h>
#include "billing.h"

/* A row's problem: the first WHEN that holds (NULL when none). */
#define CHECK(FROM, CASES) "SELECT line, why FROM (SELECT s.line, CASE " CASES " END AS why FROM " FROM ") x WHERE why IS NOT NULL"
#define REQUIRED(col) "WHEN s." col " IS NULL THEN '" col " is empty' "
#define REPEATS(key, what)                                                                                            \
    "WHEN s.line > min(s.line) OVER (PARTITION BY " key ") THEN '" what " repeats line ' || min(s.line) OVER (PARTITION BY " key ") "
#define UNKNOWN_ACCOUNT "WHEN a.id IS NULL THEN 'no account ' || s.account "
#define COUNTED(SQL) "WITH changed AS (" SQL " RETURNING 1) SELECT count(*) FROM changed"

/* ---------------------------------------------------------------- branches */

static const billing_kind_t branches = {
    "branches",
    "code*,name*,utc_offset*,window_from,window_to,outside_window,bank_recipient,bank_inn,bank_kpp,bank_bik,"
    "bank_account,bank_corr_account,bank_name",
    CHECK("kb_stage s", REQUIRED("code") REQUIRED("name") REQUIRED("utc_offset")
          "WHEN NOT kb_is_offset(s.utc_offset) THEN 'utc_offset must look like +07:00' "
          "WHEN kb_offset_min(s.utc_offset) NOT BETWEEN 120 AND 720 THEN 'utc_offset must lie within Russia: +02:00 to +12:00' "
          "WHEN (s.window_from IS NULL) <> (s.window_to IS NULL) THEN 'window_from and window_to go together' "
          "WHEN s.window_from !~ '^[0-9]{1,2}$' THEN 'window_from must be a day 1-31' "
          "WHEN s.window_from::int NOT BETWEEN 1 AND 31 THEN 'window_from must be a day 1-31' "
          "WHEN s.window_to !~ '^[0-9]{1,2}$' THEN 'window_to must be a day 1-31' "
          "WHEN s.window_to::int NOT BETWEEN 1 AND 31 THEN 'window_to must be a day 1-31' "
          "WHEN s.outside_window NOT IN ('review', 'refuse') THEN 'outside_window must be review or refuse' "
          REPEATS("s.code", "branch")),
    {COUNTED("INSERT INTO kb_branch AS b (code, name, utc_offset_min, window_from, window_to, outside_window, bank) "
             "SELECT code, name, kb_offset_min(utc_offset), window_from::smallint, window_to::smallint,"
             " coalesce(outside_window, 'review'), jsonb_strip_nulls(jsonb_build_object('recipient', bank_recipient,"
             " 'inn', bank_inn, 'kpp', bank_kpp, 'bik', bank_bik, 'account', bank_account,"
             " 'corr_account', bank_corr_account, 'bank_name', bank_name)) FROM kb_stage "
             "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, utc_offset_min = EXCLUDED.utc_offset_min,"
             " window_from = EXCLUDED.window_from, window_to = EXCLUDED.window_to,"
             " outside_window = EXCLUDED.outside_window, bank = EXCLUDED.bank "
             "WHERE (b.name, b.utc_offset_min, b.window_from, b.window_to, b.outside_window, b.bank) IS DISTINCT FROM"
             " (EXCLUDED.name, EXCLUDED.utc_offset_min, EXCLUDED.window_from, EXCLUDED.window_to,"
             "  EXCLUDED.outside_window, EXCLUDED.bank)")}};

/* ---------------------------------------------------------------- tariffs */

#define RATE_OK(col) "s." col " ~ '^[0-9]{1,8}([.,][0-9]{1,4})?$'"
static const billing_kind_t tariffs = {
    "tariffs",
    "code*,name*,zones*,valid_from*,valid_to,area,rate1*,rate2,rate3",
    CHECK("kb_stage s", REQUIRED("code") REQUIRED("name") REQUIRED("zones") REQUIRED("valid_from") REQUIRED("rate1")
          "WHEN s.zones NOT IN ('1', '2', '3') THEN 'zones must be 1, 2 or 3' "
          "WHEN NOT kb_is_date(s.valid_from) THEN 'valid_from must be a date YYYY-MM-DD' "
          "WHEN NOT kb_is_date(s.valid_to) THEN 'valid_to must be a date YYYY-MM-DD' "
          "WHEN s.valid_to < s.valid_from THEN 'valid_to comes before valid_from' "
          "WHEN s.area NOT IN ('city', 'rural') THEN 'area must be city or rural' "
          "WHEN NOT " RATE_OK("rate1") " THEN 'rate1 must be rubles per kWh such as 5,87' "
          "WHEN s.zones::int >= 2 AND (s.rate2 IS NULL OR NOT " RATE_OK("rate2") ") THEN 'rate2 is needed for 2 zones' "
          "WHEN s.zones::int = 3 AND (s.rate3 IS NULL OR NOT " RATE_OK("rate3") ") THEN 'rate3 is needed for 3 zones' "
          REPEATS("s.code, s.valid_from", "tariff")),
    {COUNTED("INSERT INTO kb_tariff AS t (code, name, area, zones, valid_from, valid_to) "
             "SELECT code, name, coalesce(area, 'city'), zones::smallint, valid_from::date, valid_to::date FROM kb_stage "
             "ON CONFLICT (code, valid_from) DO UPDATE SET name = EXCLUDED.name, area = EXCLUDED.area,"
             " zones = EXCLUDED.zones, valid_to = EXCLUDED.valid_to "
             "WHERE (t.name, t.area, t.zones, t.valid_to) IS DISTINCT FROM"
             " (EXCLUDED.name, EXCLUDED.area, EXCLUDED.zones, EXCLUDED.valid_to)"),
     COUNTED("INSERT INTO kb_tariff_rate AS r (tariff_id, zone, rate) "
             "SELECT t.id, v.zone, replace(v.rate, ',', '.')::numeric FROM kb_stage s "
             "JOIN kb_tariff t ON t.code = s.code AND t.valid_from = s.valid_from::date "
             "CROSS JOIN LATERAL (VALUES (1, s.rate1), (2, s.rate2), (3, s.rate3)) v(zone, rate) "
             "WHERE v.zone <= s.zones::int "
             "ON CONFLICT (tariff_id, zone) DO UPDATE SET rate = EXCLUDED.rate WHERE r.rate <> EXCLUDED.rate")}};

/* ---------------------------------------------------------------- accounts */

static const billing_kind_t accounts = {
    "accounts",
    "number*,holder_surname*,address*,branch*,settlement_code,tariff,residents,area_m2,els,kind,opening_balance",
    CHECK("kb_stage s LEFT JOIN kb_branch b ON b.code = s.branch",
          REQUIRED("number") REQUIRED("holder_surname") REQUIRED("address") REQUIRED("branch")
          "WHEN s.number !~ '^[0-9]{6,20}$' THEN 'number must be 6 to 20 digits' "
          "WHEN b.id IS NULL THEN 'no branch ' || s.branch "
          "WHEN s.residents !~ '^[0-9]{1,4}$' THEN 'residents must be a whole number' "
          "WHEN s.area_m2 !~ '^[0-9]{1,6}([.,][0-9]{1,2})?$' THEN 'area_m2 must be square metres such as 54,3' "
          "WHEN s.kind NOT IN ('person', 'business') THEN 'kind must be person or business' "
          "WHEN NOT kb_is_rubles(s.opening_balance) THEN 'opening_balance must be rubles such as -118,95' "
          "WHEN EXISTS (SELECT 1 FROM kb_account o WHERE o.els_code = s.els AND o.number <> s.number)"
          " THEN 'els ' || s.els || ' belongs to another account' "
          REPEATS("s.number", "account")
          "WHEN s.els IS NOT NULL AND s.line > min(s.line) OVER (PARTITION BY s.els)"
          " THEN 'els repeats line ' || min(s.line) OVER (PARTITION BY s.els) "),
    {COUNTED("INSERT INTO kb_account AS a (number, holder_surname, address, branch_id, settlement_code, tariff_code,"
             " residents, area_m2, els_code, customer_kind, opening_kopecks) "
             "SELECT s.number, s.holder_surname, s.address, b.id, s.settlement_code, s.tariff, s.residents::smallint,"
             " replace(s.area_m2, ',', '.')::numeric, s.els, coalesce(s.kind, 'person'),"
             " coalesce(kb_kopecks(s.opening_balance), 0) FROM kb_stage s JOIN kb_branch b ON b.code = s.branch "
             "ON CONFLICT (number) DO UPDATE SET holder_surname = EXCLUDED.holder_surname, address = EXCLUDED.address,"
             " branch_id = EXCLUDED.branch_id, settlement_code = EXCLUDED.settlement_code,"
             " tariff_code = EXCLUDED.tariff_code, residents = EXCLUDED.residents, area_m2 = EXCLUDED.area_m2,"
             " els_code = EXCLUDED.els_code, customer_kind = EXCLUDED.customer_kind,"
             " opening_kopecks = EXCLUDED.opening_kopecks "
             "WHERE (a.holder_surname, a.address, a.branch_id, a.settlement_code, a.tariff_code, a.residents, a.area_m2,"
             " a.els_code, a.customer_kind, a.opening_kopecks) IS DISTINCT FROM (EXCLUDED.holder_surname,"
             " EXCLUDED.address, EXCLUDED.branch_id, EXCLUDED.settlement_code, EXCLUDED.tariff_code, EXCLUDED.residents,"
             " EXCLUDED.area_m2, EXCLUDED.els_code, EXCLUDED.customer_kind, EXCLUDED.opening_kopecks)")}};

/* ---------------------------------------------------------------- meters */

static const billing_kind_t meters = {
    "meters",
    "account*,serial*,digits*,model,ratio,zones,installed_on,verify_by,removed_on",
    CHECK("kb_stage s LEFT JOIN kb_account a ON a.number = s.account",
          REQUIRED("account") REQUIRED("serial") REQUIRED("digits") UNKNOWN_ACCOUNT
          "WHEN s.digits !~ '^[0-9]{1,2}$' THEN 'digits must be 1 to 12' "
          "WHEN s.digits::int NOT BETWEEN 1 AND 12 THEN 'digits must be 1 to 12' "
          "WHEN s.ratio !~ '^[0-9]{1,6}$' THEN 'ratio must be a whole number of at least 1' "
          "WHEN s.ratio::int < 1 THEN 'ratio must be a whole number of at least 1' "
          "WHEN s.zones NOT IN ('1', '2', '3') THEN 'zones must be 1, 2 or 3' "
          "WHEN NOT kb_is_date(s.installed_on) THEN 'installed_on must be a date YYYY-MM-DD' "
          "WHEN NOT kb_is_date(s.verify_by) THEN 'verify_by must be a date YYYY-MM-DD' "
          "WHEN NOT kb_is_date(s.removed_on) THEN 'removed_on must be a date YYYY-MM-DD' "
          REPEATS("s.account, s.serial", "meter")),
    {COUNTED("INSERT INTO kb_meter AS m (account_id, serial, digits, model, ratio, zones, installed_on, verify_by,"
             " removed_on) "
             "SELECT a.id, s.serial, s.digits::smallint, s.model, coalesce(s.ratio::int, 1), coalesce(s.zones::smallint, 1),"
             " s.installed_on::date, s.verify_by::date, s.removed_on::date "
             "FROM kb_stage s JOIN kb_account a ON a.number = s.account "
             "ON CONFLICT (account_id, serial) DO UPDATE SET digits = EXCLUDED.digits, model = EXCLUDED.model,"
             " ratio = EXCLUDED.ratio, zones = EXCLUDED.zones, installed_on = EXCLUDED.installed_on,"
             " verify_by = EXCLUDED.verify_by, removed_on = EXCLUDED.removed_on "
             "WHERE (m.digits, m.model, m.ratio, m.zones, m.installed_on, m.verify_by, m.removed_on) IS DISTINCT FROM"
             " (EXCLUDED.digits, EXCLUDED.model, EXCLUDED.ratio, EXCLUDED.zones, EXCLUDED.installed_on,"
             "  EXCLUDED.verify_by, EXCLUDED.removed_on)")}};

/* ---------------------------------------------------------------- readings */

static const billing_kind_t readings = {
    "readings",
    "account*,serial*,date*,value*,zone,source*,status,consumption",
    CHECK("kb_stage s LEFT JOIN kb_account a ON a.number = s.account"
          " LEFT JOIN kb_meter m ON m.account_id = a.id AND m.serial = s.serial",
          REQUIRED("account") REQUIRED("serial") REQUIRED("date") REQUIRED("value") REQUIRED("source") UNKNOWN_ACCOUNT
          "WHEN m.id IS NULL THEN 'no meter ' || s.serial || ' on account ' || s.account "
          "WHEN NOT kb_is_date(s.date) THEN 'date must be a date YYYY-MM-DD' "
          "WHEN NOT kb_is_decimal(s.value) THEN 'value must be a number such as 29700 or 29700,5' "
          "WHEN s.zone NOT IN ('1', '2', '3') THEN 'zone must be one of the meter''s zones' "
          "WHEN s.zone::int > m.zones THEN 'zone must be one of the meter''s zones' "
          "WHEN s.source NOT IN ('receipt', 'network', 'inspection', 'portal', 'customer')"
          " THEN 'source must be receipt, network, inspection, portal or customer' "
          "WHEN s.status NOT IN ('accepted', 'rejected', 'review') THEN 'status must be accepted, rejected or review' "
          "WHEN NOT kb_is_decimal(s.consumption) THEN 'consumption must be kWh such as 150' "
          REPEATS("s.account, s.serial, coalesce(s.zone, '1'), s.date, s.source", "reading")),
    {COUNTED("INSERT INTO kb_reading (meter_id, zone, value, local_day, taken_at, source, status, consumption) "
             "SELECT m.id, coalesce(s.zone::smallint, 1), replace(s.value, ',', '.')::numeric, s.date::date,"
             " (s.date::timestamp + interval '12 hours' - make_interval(mins => b.utc_offset_min)) AT TIME ZONE 'UTC',"
             " s.source, coalesce(s.status, 'accepted'), replace(s.consumption, ',', '.')::numeric "
             "FROM kb_stage s JOIN kb_account a ON a.number = s.account JOIN kb_branch b ON b.id = a.branch_id "
             "JOIN kb_meter m ON m.account_id = a.id AND m.serial = s.serial "
             "ON CONFLICT DO NOTHING")}};

/* ---------------------------------------------------------------- charges and penalties */

#define MONTH_OK(col) "s." col " ~ '^[0-9]{4}-(0[1-9]|1[0-2])(-01)?$'"
#define MONTH(col) "(left(s." col ", 7) || '-01')::date"
static const billing_kind_t charges = {
    "charges",
    "account*,month*,zone,kwh*,rate*,amount*,correction,odn",
    CHECK("kb_stage s LEFT JOIN kb_account a ON a.number = s.account",
          REQUIRED("account") REQUIRED("month") REQUIRED("kwh") REQUIRED("rate") REQUIRED("amount") UNKNOWN_ACCOUNT
          "WHEN NOT " MONTH_OK("month") " THEN 'month must be YYYY-MM' "
          "WHEN s.zone NOT IN ('1', '2', '3') THEN 'zone must be 1, 2 or 3' "
          "WHEN s.kwh !~ '^-?[0-9]{1,12}([.,][0-9]{1,3})?$' THEN 'kwh must be a number such as 150,5' "
          "WHEN NOT " RATE_OK("rate") " THEN 'rate must be rubles per kWh such as 5,87' "
          "WHEN NOT kb_is_rubles(s.amount) THEN 'amount must be rubles such as 880,50' "
          "WHEN NOT kb_is_rubles(s.correction) THEN 'correction must be rubles such as -10,00' "
          "WHEN NOT kb_is_rubles(s.odn) THEN 'odn must be rubles such as 5,00' "
          REPEATS("s.account, left(s.month, 7), coalesce(s.zone, '1')", "charge")),
    {COUNTED("INSERT INTO kb_charge AS c (account_id, month, zone, kwh, rate, amount_kopecks, correction_kopecks,"
             " odn_kopecks) "
             "SELECT a.id, " MONTH("month") ", coalesce(s.zone::smallint, 1), replace(s.kwh, ',', '.')::numeric,"
             " replace(s.rate, ',', '.')::numeric, kb_kopecks(s.amount), coalesce(kb_kopecks(s.correction), 0),"
             " coalesce(kb_kopecks(s.odn), 0) FROM kb_stage s JOIN kb_account a ON a.number = s.account "
             "ON CONFLICT (account_id, month, zone) DO UPDATE SET kwh = EXCLUDED.kwh, rate = EXCLUDED.rate,"
             " amount_kopecks = EXCLUDED.amount_kopecks, correction_kopecks = EXCLUDED.correction_kopecks,"
             " odn_kopecks = EXCLUDED.odn_kopecks "
             "WHERE (c.kwh, c.rate, c.amount_kopecks, c.correction_kopecks, c.odn_kopecks) IS DISTINCT FROM"
             " (EXCLUDED.kwh, EXCLUDED.rate, EXCLUDED.amount_kopecks, EXCLUDED.correction_kopecks, EXCLUDED.odn_kopecks)")}};

static const billing_kind_t penalties = {
    "penalties",
    "account*,month*,penalty,duty",
    CHECK("kb_stage s LEFT JOIN kb_account a ON a.number = s.account",
          REQUIRED("account") REQUIRED("month") UNKNOWN_ACCOUNT
          "WHEN NOT " MONTH_OK("month") " THEN 'month must be YYYY-MM' "
          "WHEN NOT kb_is_rubles(s.penalty) THEN 'penalty must be rubles such as 118,95' "
          "WHEN NOT kb_is_rubles(s.duty) THEN 'duty must be rubles such as 400,00' "
          REPEATS("s.account, left(s.month, 7)", "month")),
    {COUNTED("INSERT INTO kb_penalty AS p (account_id, month, penalty_kopecks, duty_kopecks) "
             "SELECT a.id, " MONTH("month") ", coalesce(kb_kopecks(s.penalty), 0), coalesce(kb_kopecks(s.duty), 0) "
             "FROM kb_stage s JOIN kb_account a ON a.number = s.account "
             "ON CONFLICT (account_id, month) DO UPDATE SET penalty_kopecks = EXCLUDED.penalty_kopecks,"
             " duty_kopecks = EXCLUDED.duty_kopecks "
             "WHERE (p.penalty_kopecks, p.duty_kopecks) IS DISTINCT FROM (EXCLUDED.penalty_kopecks, EXCLUDED.duty_kopecks)")}};

/* ---------------------------------------------------------------- payments */

/* The kabinet payment a billing row reports back: by order id, or by the provider's own id. */
#define KABINET_PAYMENT(s)                                                                                            \
    "(SELECT k.id FROM kb_payment k WHERE k.billing_id IS NULL AND k.source IN ('bot', 'portal') AND"                \
    " ((" s ".order_id IS NOT NULL AND k.order_id = " s ".order_id) OR (" s ".provider IS NOT NULL AND"              \
    "  " s ".provider_payment_id IS NOT NULL AND k.provider = " s ".provider AND"                                     \
    "  k.provider_payment_id = " s ".provider_payment_id)) LIMIT 1)"
static const billing_kind_t payments = {
    "payments",
    "billing_id*,account*,paid_at*,amount*,purpose,source,provider,provider_payment_id,order_id",
    CHECK("kb_stage s LEFT JOIN kb_account a ON a.number = s.account LEFT JOIN kb_payment k ON k.id = " KABINET_PAYMENT("s"),
          REQUIRED("billing_id") REQUIRED("account") REQUIRED("paid_at") REQUIRED("amount") UNKNOWN_ACCOUNT
          "WHEN NOT kb_is_moment(s.paid_at) THEN 'paid_at must be a time such as 2026-10-05 14:30 (local) or with +07:00' "
          "WHEN NOT kb_is_rubles(s.amount) THEN 'amount must be positive rubles such as 961,50' "
          "WHEN kb_kopecks(s.amount) <= 0 THEN 'amount must be positive rubles such as 961,50' "
          "WHEN s.purpose NOT IN ('energy', 'penalty') THEN 'purpose must be energy or penalty' "
          "WHEN s.source NOT IN ('bank', 'terminal', 'portal', 'bot', 'billing')"
          " THEN 'source must be bank, terminal, portal, bot or billing' "
          "WHEN EXISTS (SELECT 1 FROM kb_payment c WHERE c.billing_id <> s.billing_id AND"
          " ((s.order_id IS NOT NULL AND c.order_id = s.order_id) OR (s.provider IS NOT NULL AND"
          "  s.provider_payment_id IS NOT NULL AND c.provider = s.provider AND c.provider_payment_id = s.provider_payment_id)))"
          " THEN 'already credited as billing_id ' || (SELECT c.billing_id FROM kb_payment c WHERE c.billing_id <> s.billing_id"
          " AND ((s.order_id IS NOT NULL AND c.order_id = s.order_id) OR (c.provider = s.provider AND"
          "  c.provider_payment_id = s.provider_payment_id)) LIMIT 1) "
          "WHEN k.id IS NOT NULL AND (k.account_id <> a.id OR k.amount_kopecks <> kb_kopecks(s.amount))"
          " THEN 'differs from kabinet payment ' || k.order_id || ' (account or amount)' "
          REPEATS("s.billing_id", "billing_id")),
    /* first the kabinet payments billing reports back: credited, never counted twice */
    {COUNTED("UPDATE kb_payment k SET status = 'credited', credited_at = now(), billing_id = s.billing_id,"
             " paid_at = coalesce(k.paid_at, kb_moment(s.paid_at, b.utc_offset_min)) "
             "FROM kb_stage s JOIN kb_account a ON a.number = s.account JOIN kb_branch b ON b.id = a.branch_id "
             "WHERE k.id = " KABINET_PAYMENT("s")),
     COUNTED("INSERT INTO kb_payment (billing_id, account_id, amount_kopecks, purpose, source, status, paid_at,"
             " credited_at, provider, provider_payment_id, order_id) "
             "SELECT s.billing_id, a.id, kb_kopecks(s.amount), coalesce(s.purpose, 'energy'), coalesce(s.source, 'bank'),"
             " 'credited', kb_moment(s.paid_at, b.utc_offset_min), now(), s.provider, s.provider_payment_id, s.order_id "
             "FROM kb_stage s JOIN kb_account a ON a.number = s.account JOIN kb_branch b ON b.id = a.branch_id "
             "WHERE NOT EXISTS (SELECT 1 FROM kb_payment p WHERE p.billing_id = s.billing_id) "
             "ON CONFLICT DO NOTHING")}};

/* ---------------------------------------------------------------- contracts (businesses) */

static const billing_kind_t contracts = {
    "contracts",
    "contract_no*,inn*,org_name*,point*,point_address*,contract_date,kpp,account",
    CHECK("kb_stage s LEFT JOIN kb_account a ON a.number = s.account",
          REQUIRED("contract_no") REQUIRED("inn") REQUIRED("org_name") REQUIRED("point") REQUIRED("point_address")
          "WHEN s.inn !~ '^([0-9]{10}|[0-9]{12})$' THEN 'inn must be 10 or 12 digits' "
          "WHEN s.kpp !~ '^[0-9]{9}$' THEN 'kpp must be 9 digits' "
          "WHEN NOT kb_is_date(s.contract_date) THEN 'contract_date must be a date YYYY-MM-DD' "
          "WHEN s.account IS NOT NULL AND a.id IS NULL THEN 'no account ' || s.account "
          "WHEN min(s.org_name) OVER (PARTITION BY s.contract_no, s.inn) <> max(s.org_name) OVER (PARTITION BY s.contract_no, s.inn)"
          " THEN 'contract ' || s.contract_no || ' has different org_name on other lines' "
          REPEATS("s.contract_no, s.inn, s.point", "supply point")),
    {COUNTED("INSERT INTO kb_customer AS c (kind, org_name, inn, kpp, contract_no, contract_date) "
             "SELECT DISTINCT ON (contract_no, inn) 'business', org_name, inn, kpp, contract_no, contract_date::date "
             "FROM kb_stage ORDER BY contract_no, inn, line "
             "ON CONFLICT (contract_no, inn) WHERE kind = 'business' DO UPDATE SET org_name = EXCLUDED.org_name,"
             " kpp = EXCLUDED.kpp, contract_date = EXCLUDED.contract_date "
             "WHERE (c.org_name, c.kpp, c.contract_date) IS DISTINCT FROM (EXCLUDED.org_name, EXCLUDED.kpp,"
             " EXCLUDED.contract_date)"),
     COUNTED("INSERT INTO kb_supply_point AS p (customer_id, account_id, name, address) "
             "SELECT c.id, a.id, s.point, s.point_address FROM kb_stage s "
             "JOIN kb_customer c ON c.kind = 'business' AND c.contract_no = s.contract_no AND c.inn = s.inn "
             "LEFT JOIN kb_account a ON a.number = s.account "
             "ON CONFLICT (customer_id, name) DO UPDATE SET account_id = EXCLUDED.account_id, address = EXCLUDED.address "
             "WHERE (p.account_id, p.address) IS DISTINCT FROM (EXCLUDED.account_id, EXCLUDED.address)")}};

/* ---------------------------------------------------------------- the table */

static const billing_kind_t *const kinds[] = {&branches, &tariffs, &accounts, &meters, &readings,
                                              &charges, &penalties, &payments, &contracts, NULL};

const billing_kind_t *billing_kind(const char *name)
{
    for (int i = 0; kinds[i]; i++)
        if (!strcmp(kinds[i]->name, name))
            return kinds[i];
    return NULL;
}
