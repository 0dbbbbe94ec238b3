-- Worked analyst queries on the DuckDB warehouse (PINTEREST_ETL_HOME/warehouse.duckdb).
-- Each query starts with a `-- name:` line; run one with
--   pinterest-etl sql --file docs/queries.sql --name NAME [--csv out.csv | --parquet out.parquet]
-- Periods are relative to the newest date in the data, never fixed dates. Rates are recomputed from summed
-- counts (never summed or averaged), money is in micro-units of each ad account's currency (grouped by
-- currency, never added across currencies), and ads numbers are kept apart per attribution setting.
-- Column meanings and units: docs/data-dictionary.md. The test suite runs every query on a demo warehouse.

-- name: impressions_week_over_week
-- Organic account impressions per 7-day period ending on the newest day, and the change from the period before.
-- The newest days may still be PROCESSING (no numbers yet): days_with_numbers says how complete a period is.
-- user_account_organic_daily: content_type ORGANIC (organic activity only) where stored, else ALL (paid included:
-- days loaded before content types were stored); content_types says which, and no change is computed between
-- periods of different content types (it would measure the switch, not the activity).
WITH newest AS (SELECT max(date) AS day FROM user_account_organic_daily),
periods AS (
    SELECT u.user_id, (newest.day - u.date) // 7 AS weeks_back, min(u.date) AS first_day, max(u.date) AS last_day,
           sum(u.impression) AS impressions, count(u.impression) AS days_with_numbers,
           string_agg(DISTINCT u.content_type, ',' ORDER BY u.content_type) AS content_types
    FROM user_account_organic_daily u, newest
    WHERE u.split_field = 'NO_SPLIT'
    GROUP BY u.user_id, weeks_back
)
SELECT user_id, first_day, last_day, content_types, days_with_numbers, impressions,
       CASE WHEN content_types = lag(content_types) OVER w THEN impressions - lag(impressions) OVER w END AS change,
       CASE WHEN content_types = lag(content_types) OVER w
            THEN round(100 * (impressions / lag(impressions) OVER w - 1), 1) END AS change_pct
FROM periods
WINDOW w AS (PARTITION BY user_id ORDER BY first_day)
ORDER BY user_id, first_day;

-- name: top_pins_by_saves_28d
-- The 10 pins saved most in the last 28 days, with their titles, and their save rate recomputed from counts.
SELECT p.pin_id, p.title, p.creative_type, sum(d.save) AS saves, sum(d.impression) AS impressions,
       round(sum(d.save) / nullif(sum(d.impression), 0), 4) AS save_rate
FROM pin_daily d
JOIN pins p USING (pin_id)
WHERE d.date > (SELECT max(date) FROM pin_daily) - INTERVAL 28 DAY
GROUP BY p.pin_id, p.title, p.creative_type
ORDER BY saves DESC NULLS LAST, impressions DESC NULLS LAST
LIMIT 10;

-- name: spend_and_roas_by_campaign
-- Spend, checkout value and ROAS (checkout value / spend) per campaign over the last 28 days, in the campaign's
-- account currency (amounts divided by 10^6; never added across currencies), per attribution setting.
SELECT d.currency, c.name AS campaign, c.objective_type, d.attribution,
       round(sum(d.spend_in_micro_dollar) / 1e6, 2) AS spend,
       round(sum(d.total_checkout_value_in_micro_dollar) / 1e6, 2) AS checkout_value,
       round(sum(d.total_checkout_value_in_micro_dollar) / nullif(sum(d.spend_in_micro_dollar), 0), 2) AS roas,
       count(*) FILTER (WHERE NOT d.is_final) AS days_not_final
FROM campaign_daily d
JOIN campaigns c USING (campaign_id)
WHERE d.date > (SELECT max(date) FROM campaign_daily) - INTERVAL 28 DAY
GROUP BY ALL
ORDER BY d.currency, spend DESC;

-- name: ctr_by_ad
-- Click-through rate of each ad over the last 28 days, computed from summed clicks and paid impressions
-- (averaging the daily ctr column would weigh a 20-impression day like a 10,000-impression one).
SELECT a.ad_id, a.name AS ad, p.title AS pin_title, sum(d.clickthrough_1) AS clicks,
       sum(d.paid_impression) AS paid_impressions,
       round(sum(d.clickthrough_1) / nullif(sum(d.paid_impression), 0), 4) AS ctr
FROM ad_daily d
JOIN ads a USING (ad_id)
LEFT JOIN pins p ON p.pin_id = d.pin_id
WHERE d.date > (SELECT max(date) FROM ad_daily) - INTERVAL 28 DAY
GROUP BY a.ad_id, a.name, p.title
HAVING sum(d.paid_impression) > 0
ORDER BY ctr DESC, paid_impressions DESC;

-- name: organic_vs_paid_impressions_by_day
-- Per day: the account's organic impressions from its own analytics next to the paid impressions of all ad
-- accounts, for the last 28 days. user_account_organic_daily: content_type ORGANIC where stored, else ALL (paid
-- included: days loaded before content types were stored; account_content_types says which, and paid_share is
-- left out for them). Paid impressions do not depend on attribution, so one setting is taken per account.
WITH newest AS (SELECT greatest((SELECT max(date) FROM user_account_organic_daily), (SELECT max(date) FROM ad_account_daily)) AS day),
organic AS (
    SELECT date, sum(impression) AS account_impressions,
           string_agg(DISTINCT content_type, ',' ORDER BY content_type) AS account_content_types
    FROM user_account_organic_daily WHERE split_field = 'NO_SPLIT' GROUP BY date
),
paid AS (
    SELECT date, sum(paid_impression) AS paid_impressions
    FROM (SELECT date, ad_account_id, max(paid_impression) AS paid_impression
          FROM ad_account_daily GROUP BY date, ad_account_id)
    GROUP BY date
)
SELECT date, o.account_content_types, o.account_impressions, p.paid_impressions,
       CASE WHEN o.account_content_types = 'ORGANIC'
            THEN round(p.paid_impressions / nullif(o.account_impressions + p.paid_impressions, 0), 3) END AS paid_share
FROM organic o FULL OUTER JOIN paid p USING (date), newest
WHERE date > newest.day - INTERVAL 28 DAY
ORDER BY date;

-- name: final_vs_not_final_by_day
-- How final the data is, per day and source: entities whose numbers will not change any more vs entities that later
-- runs will still replace (organic: ESTIMATE or PROCESSING; ads: inside the attribution window), for the last 35
-- days. An entity-day counts once, whatever its split buckets, content types (user accounts) or attribution
-- settings (ads): final when all its rows are.
SELECT date,
       CASE WHEN entity_type IN ('user_account', 'pin') THEN 'organic' ELSE 'ads' END AS source,
       count(*) FILTER (WHERE is_final) AS final_entities,
       count(*) FILTER (WHERE NOT is_final) AS not_final_entities,
       round(count(*) FILTER (WHERE is_final) / count(*), 3) AS final_share,
       string_agg(DISTINCT data_status, ', ' ORDER BY data_status) AS organic_statuses
FROM (SELECT date, entity_type, entity_id, bool_and(is_final) AS is_final,
             string_agg(DISTINCT data_status, ', ' ORDER BY data_status) AS data_status
      FROM daily_status
      WHERE date > (SELECT max(date) FROM daily_status) - INTERVAL 35 DAY
      GROUP BY ALL)
GROUP BY ALL
ORDER BY date DESC, source;

-- name: rows_not_final
-- Late-data corrections to expect: per entity type and status, how many entity-days are not final yet, their
-- dates and oldest extraction (the daily run re-pulls them until they are final). BEFORE_... days (before a pin
-- or the account existed) are left out: they have no numbers to correct. An entity-day counts once, whatever its
-- split buckets, content types (user accounts) or attribution settings (ads).
SELECT entity_type, coalesce(data_status, 'ads: attribution window open') AS status,
       count(DISTINCT (entity_id, date)) AS entity_days, count(DISTINCT entity_id) AS entities,
       min(date) AS oldest_date, max(date) AS newest_date,
       min(extracted_at) AS oldest_extraction
FROM daily_status
WHERE NOT is_final AND coalesce(data_status, '') NOT LIKE 'BEFORE%'
GROUP BY ALL
ORDER BY entity_type, oldest_date;

-- name: save_rate_by_board
-- Saves, impressions and save rate per board over the last 28 days, recomputed from the pins' counts.
SELECT b.name AS board, count(DISTINCT p.pin_id) AS pins, sum(d.impression) AS impressions, sum(d.save) AS saves,
       round(sum(d.save) / nullif(sum(d.impression), 0), 4) AS save_rate,
       round(sum(d.outbound_click) / nullif(sum(d.impression), 0), 4) AS outbound_click_rate
FROM pin_daily d
JOIN pins p USING (pin_id)
JOIN boards b USING (board_id)
WHERE d.date > (SELECT max(date) FROM pin_daily) - INTERVAL 28 DAY
GROUP BY b.name
ORDER BY impressions DESC NULLS LAST;

-- name: pin_performance_by_creative_type
-- How each creative type (REGULAR, VIDEO, ...) performs over the last 28 days: totals, rates from counts, and
-- impressions per pin; video views where the pins are videos.
SELECT p.creative_type, count(DISTINCT p.pin_id) AS pins, sum(d.impression) AS impressions,
       round(sum(d.impression) / count(DISTINCT p.pin_id), 1) AS impressions_per_pin,
       round(sum(d.save) / nullif(sum(d.impression), 0), 4) AS save_rate,
       round(sum(d.pin_click) / nullif(sum(d.impression), 0), 4) AS pin_click_rate,
       round(sum(d.outbound_click) / nullif(sum(d.impression), 0), 4) AS outbound_click_rate,
       sum(d.video_mrc_view) AS video_views
FROM pin_daily d
JOIN pins p USING (pin_id)
WHERE d.date > (SELECT max(date) FROM pin_daily) - INTERVAL 28 DAY
GROUP BY p.creative_type
ORDER BY impressions DESC NULLS LAST;

-- name: daily_spend_pacing_by_account
-- Spend per ad account per day over the last 14 days, its 7-day average, and the share of the daily budgets of
-- the account's active ad groups it used (the budgets as they are now: the warehouse keeps no budget history).
WITH budgets AS (
    SELECT ad_account_id, sum(budget_in_micro_currency) AS daily_budget
    FROM ad_groups WHERE status = 'ACTIVE' AND budget_type = 'DAILY' GROUP BY ad_account_id
),
spend AS (
    SELECT date, ad_account_id, currency, max(spend_in_micro_dollar) AS spend  -- the same under every attribution
    FROM ad_account_daily GROUP BY date, ad_account_id, currency
)
SELECT s.date, a.name AS ad_account, s.currency, round(s.spend / 1e6, 2) AS spend,
       round(avg(s.spend) OVER (PARTITION BY s.ad_account_id ORDER BY s.date ROWS 6 PRECEDING) / 1e6, 2)
           AS spend_7d_avg,
       round(b.daily_budget / 1e6, 2) AS active_daily_budgets,
       round(s.spend / nullif(b.daily_budget, 0), 3) AS budget_used
FROM spend s
JOIN ad_accounts a USING (ad_account_id)
LEFT JOIN budgets b USING (ad_account_id)
QUALIFY s.date > (SELECT max(date) FROM ad_account_daily) - INTERVAL 14 DAY
ORDER BY ad_account, s.date DESC;

-- name: attribution_settings_comparison
-- Conversions and checkout value per ad account under each attribution setting loaded, over the days every
-- setting covers, so the settings compare like for like (set PINTEREST_ADS_*_WINDOW_DAYS and re-run for another).
WITH settings AS (SELECT count(DISTINCT attribution) AS n FROM ad_account_daily),
common_days AS (
    SELECT date FROM ad_account_daily GROUP BY date HAVING count(DISTINCT attribution) = (SELECT n FROM settings)
)
SELECT a.name AS ad_account, d.currency, d.attribution, count(*) AS days,
       sum(d.total_conversions) AS conversions, sum(d.total_checkout) AS checkouts,
       round(sum(d.total_checkout_value_in_micro_dollar) / 1e6, 2) AS checkout_value,
       round(sum(d.total_checkout_value_in_micro_dollar) / nullif(sum(d.spend_in_micro_dollar), 0), 2) AS roas
FROM ad_account_daily d
JOIN ad_accounts a USING (ad_account_id)
WHERE d.date IN (SELECT date FROM common_days)
GROUP BY ALL
ORDER BY ad_account, d.attribution;

-- name: cost_per_result_by_objective
-- CPC, CPM and cost per conversion per campaign objective and currency over the last 28 days, recomputed from
-- summed spend, clicks and impressions (never from the daily cpc/cpm columns).
SELECT c.objective_type, d.currency, d.attribution, count(DISTINCT d.campaign_id) AS campaigns,
       round(sum(d.spend_in_micro_dollar) / 1e6, 2) AS spend,
       round(sum(d.spend_in_micro_dollar) / nullif(sum(d.clickthrough_1), 0) / 1e6, 2) AS cpc,
       round(1000 * sum(d.spend_in_micro_dollar) / nullif(sum(d.paid_impression), 0) / 1e6, 2) AS cpm,
       round(sum(d.spend_in_micro_dollar) / nullif(sum(d.total_conversions), 0) / 1e6, 2) AS cost_per_conversion
FROM campaign_daily d
JOIN campaigns c USING (campaign_id)
WHERE d.date > (SELECT max(date) FROM campaign_daily) - INTERVAL 28 DAY
GROUP BY ALL
ORDER BY d.currency, spend DESC;

-- name: promoted_pins_organic_and_paid
-- Pins that are promoted: their organic numbers (pin analytics) next to their paid numbers (all ads of the pin)
-- over the last 28 days.
WITH newest AS (SELECT max(date) AS day FROM pin_daily),
organic AS (
    SELECT pin_id, sum(impression) AS organic_impressions, sum(save) AS organic_saves
    FROM pin_daily, newest WHERE date > newest.day - INTERVAL 28 DAY GROUP BY pin_id
),
paid AS (
    SELECT pin_id, attribution, count(DISTINCT ad_id) AS ads, sum(paid_impression) AS paid_impressions,
           sum(repin_1) AS paid_saves
    FROM ad_daily, newest WHERE date > newest.day - INTERVAL 28 DAY GROUP BY pin_id, attribution
)
SELECT p.pin_id, p.title, paid.attribution, paid.ads, o.organic_impressions, paid.paid_impressions,
       o.organic_saves, paid.paid_saves
FROM paid
JOIN pins p USING (pin_id)
LEFT JOIN organic o USING (pin_id)
ORDER BY paid.paid_impressions DESC
LIMIT 20;

-- name: video_pin_funnel
-- Video pins over the last 28 days: starts, views, 10-second views and 95 % completions, with each step as a
-- share of starts (from sums), and the average watch time weighted by views.
SELECT p.pin_id, p.title, sum(d.video_start) AS starts, sum(d.video_mrc_view) AS views,
       sum(d.video_10s_view) AS views_10s, sum(d.quartile_95_percent_view) AS completions_95,
       round(sum(d.video_mrc_view) / nullif(sum(d.video_start), 0), 3) AS view_share,
       round(sum(d.quartile_95_percent_view) / nullif(sum(d.video_start), 0), 3) AS completion_share,
       round(sum(d.video_avg_watch_time * d.video_mrc_view) / nullif(sum(d.video_mrc_view), 0), 1) AS avg_watch_time
FROM pin_daily d
JOIN pins p USING (pin_id)
WHERE p.is_video AND d.date > (SELECT max(date) FROM pin_daily) - INTERVAL 28 DAY
GROUP BY p.pin_id, p.title
HAVING sum(d.video_start) > 0
ORDER BY starts DESC
LIMIT 20;

-- name: most_commented_pins_lifetime
-- The pins with the most comments and reactions of all time (lifetime totals as last reported, not daily sums).
SELECT p.pin_id, p.title, p.created_at::DATE AS created,
       max(l.value) FILTER (WHERE l.metric = 'TOTAL_COMMENTS') AS comments,
       max(l.value) FILTER (WHERE l.metric = 'TOTAL_REACTIONS') AS reactions
FROM pin_lifetime l
JOIN pins p USING (pin_id)
GROUP BY p.pin_id, p.title, created
ORDER BY comments DESC NULLS LAST, reactions DESC NULLS LAST
LIMIT 10;
