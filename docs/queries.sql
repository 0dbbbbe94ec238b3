-- Worked analyst queries on the DuckDB warehouse (PINTEREST_ETL_HOME/warehouse.duckdb).
-- Each query starts with a `-- name:` line; run one with
--   pinterest-etl sql --file docs/queries.sql --name NAME [--csv out.csv | --parquet out.parquet]
-- Periods are relative to the newest date in the data, never fixed dates. Rates are recomputed from summed
-- counts (never summed or averaged), money is grouped by each ad account's currency (never added across
-- currencies), and ads numbers are kept apart per attribution setting. The reporting views (campaign_performance,
-- ad_group_performance, ad_performance, pin_performance, top_pins) carry names, money in currency units and zeros
-- where the API leaves them out; the wide tables (money in micro-units) hold every metric.
-- Column meanings and units: docs/data-dictionary.md. The test suite runs every query on a demo warehouse.

-- name: impressions_week_over_week
-- Organic account impressions per 7-day period, compared like with like: periods end on the newest day whose
-- numbers are final, only final days count (final_days says how many a period has: 7 when complete), and the change
-- is of the average per final day (impressions_per_final_day), so a period with fewer final days is no drop.
-- user_account_organic_daily: content_type ORGANIC where stored, else ALL (paid included: days loaded before
-- content types were stored); content_types says which, and no change is computed between periods of different
-- content types (it would measure the switch, not the activity).
WITH final_days AS (
    SELECT user_id, date, impression, content_type
    FROM user_account_organic_daily
    WHERE split_field = 'NO_SPLIT' AND is_final AND impression IS NOT NULL
),
newest AS (SELECT user_id, max(date) AS day FROM final_days GROUP BY user_id),
periods AS (
    SELECT f.user_id, ((n.day - f.date) // 7)::INTEGER AS weeks_back, n.day - 7 * weeks_back - 6 AS first_day,
           n.day - 7 * weeks_back AS last_day, count(*) AS final_days, sum(f.impression) AS impressions,
           sum(f.impression) / count(*) AS per_day,
           string_agg(DISTINCT f.content_type, ',' ORDER BY f.content_type) AS content_types
    FROM final_days f JOIN newest n USING (user_id)
    GROUP BY f.user_id, weeks_back, n.day
)
SELECT user_id, first_day, last_day, content_types, final_days, impressions,
       round(per_day, 1) AS impressions_per_final_day,
       CASE WHEN content_types = lag(content_types) OVER w THEN round(per_day - lag(per_day) OVER w, 1) END
           AS change_per_day,
       CASE WHEN content_types = lag(content_types) OVER w
            THEN round(100 * (per_day / lag(per_day) OVER w - 1), 1) END AS change_pct_per_day
FROM periods
WINDOW w AS (PARTITION BY user_id ORDER BY first_day)
ORDER BY user_id, first_day;

-- name: top_pins_by_saves_28d
-- The 10 pins saved most over the 28 days ending on the newest day final for every pin (top_pins: final days only),
-- with their titles and boards, and their save rate recomputed from counts.
SELECT saves_rank, pin_id, title, board_name, media_type, saves, impressions,
       round(saves / nullif(impressions, 0), 4) AS save_rate, window_first_day, window_last_day
FROM top_pins
WHERE saves_rank <= 10
ORDER BY saves_rank, impressions DESC;

-- name: top_pins_api_vs_stored
-- Pinterest's own top 10 by impressions (top_pins_api, fetched by each run over its window) beside the same pins'
-- impressions summed from the stored pin data over the same window, and each pin's place in the stored ranking:
-- a difference means the two saw different numbers (days of the window not final when the ranking was fetched, or
-- pins of other accounts the API ranks). is_final says whether the API's numbers were final.
WITH api AS (SELECT * FROM top_pins_api WHERE sort_by = 'IMPRESSION'),
stored AS (
    SELECT w.window_start, w.window_end, d.pin_id, sum(d.impression) AS impressions
    FROM pin_daily d JOIN (SELECT DISTINCT window_start, window_end FROM api) w
      ON d.date BETWEEN w.window_start AND w.window_end
    GROUP BY ALL
),
stored_rank AS (
    SELECT *, rank() OVER (PARTITION BY window_start, window_end ORDER BY impressions DESC) AS stored_rank FROM stored
)
SELECT a.user_id, a.rank AS api_rank, s.stored_rank, a.pin_id, p.title, a.impression AS api_impressions,
       s.impressions AS stored_impressions, a.is_final, a.window_start, a.window_end
FROM api a
LEFT JOIN stored_rank s USING (pin_id, window_start, window_end)
LEFT JOIN pins p USING (pin_id)
WHERE a.rank <= 10
ORDER BY a.user_id, a.rank;

-- name: spend_and_roas_by_campaign
-- Spend, checkout value and ROAS (checkout value / spend) per campaign over the last 28 days, in the campaign's
-- account currency (never added across currencies), per attribution setting; ROAS is 0, not missing, for a campaign
-- that spent without checkouts (the ads API leaves zeros out; campaign_performance reads them as 0).
SELECT p.currency, p.campaign_name AS campaign, c.objective_type, p.attribution,
       round(sum(p.spend), 2) AS spend, round(sum(p.checkout_value), 2) AS checkout_value,
       round(sum(p.checkout_value) / nullif(sum(p.spend), 0), 2) AS roas,
       count(*) FILTER (WHERE NOT p.is_final) AS days_not_final
FROM campaign_performance p
JOIN campaigns c USING (campaign_id, ad_account_id)
WHERE p.date > (SELECT max(date) FROM campaign_performance) - INTERVAL 28 DAY
GROUP BY ALL
ORDER BY p.currency, spend DESC;

-- name: ctr_by_ad
-- Click-through rate of each ad over the last 28 days, computed from summed clicks and paid impressions
-- (averaging the daily ctr column would weigh a 20-impression day like a 10,000-impression one).
SELECT a.ad_id, a.ad_name AS ad, p.title AS pin_title, sum(a.clicks) AS clicks, sum(a.impressions) AS paid_impressions,
       round(sum(a.clicks) / nullif(sum(a.impressions), 0), 4) AS ctr
FROM ad_performance a
LEFT JOIN pins p USING (pin_id)
WHERE a.date > (SELECT max(date) FROM ad_performance) - INTERVAL 28 DAY
GROUP BY a.ad_id, a.ad_name, p.title
HAVING sum(a.impressions) > 0
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
SELECT board_name AS board, count(DISTINCT pin_id) AS pins, sum(impressions) AS impressions, sum(saves) AS saves,
       round(sum(saves) / nullif(sum(impressions), 0), 4) AS save_rate,
       round(sum(outbound_clicks) / nullif(sum(impressions), 0), 4) AS outbound_click_rate
FROM pin_performance
WHERE date > (SELECT max(date) FROM pin_performance) - INTERVAL 28 DAY
GROUP BY board_name
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
-- the account's active ad groups it used (the budgets as they are now: the warehouse keeps no budget history). A day
-- without a row spent nothing (the ads API leaves all-zero rows out), so the average is over 7 calendar days.
WITH budgets AS (
    SELECT ad_account_id, sum(budget_in_micro_currency) AS daily_budget
    FROM ad_groups WHERE status = 'ACTIVE' AND budget_type = 'DAILY' GROUP BY ad_account_id
),
spend AS (
    SELECT date, ad_account_id, currency, max(spend_in_micro_dollar) AS spend  -- the same under every attribution
    FROM ad_account_daily GROUP BY date, ad_account_id, currency
)
SELECT s.date, a.name AS ad_account, s.currency, round(s.spend / 1e6, 2) AS spend,
       round(sum(s.spend) OVER (PARTITION BY s.ad_account_id ORDER BY s.date
                                RANGE BETWEEN INTERVAL 6 DAY PRECEDING AND CURRENT ROW) / 7 / 1e6, 2) AS spend_7d_avg,
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
SELECT c.objective_type, p.currency, p.attribution, count(DISTINCT p.campaign_id) AS campaigns,
       round(sum(p.spend), 2) AS spend,
       round(sum(p.spend) / nullif(sum(p.clicks), 0), 2) AS cpc,
       round(1000 * sum(p.spend) / nullif(sum(p.impressions), 0), 2) AS cpm,
       round(sum(p.spend) / nullif(sum(p.conversions), 0), 2) AS cost_per_conversion
FROM campaign_performance p
JOIN campaigns c USING (campaign_id, ad_account_id)
WHERE p.date > (SELECT max(date) FROM campaign_performance) - INTERVAL 28 DAY
GROUP BY ALL
ORDER BY p.currency, spend DESC;

-- name: promoted_pins_organic_and_paid
-- Pins that are promoted: their organic numbers (pin_performance) next to their paid numbers (all ads of the pin,
-- ad_performance) over the last 28 days.
WITH newest AS (SELECT greatest((SELECT max(date) FROM pin_performance), (SELECT max(date) FROM ad_performance)) AS day),
organic AS (
    SELECT pin_id, sum(impressions) AS organic_impressions, sum(saves) AS organic_saves
    FROM pin_performance, newest WHERE date > newest.day - INTERVAL 28 DAY GROUP BY pin_id
),
paid AS (
    SELECT pin_id, count(DISTINCT ad_id) AS ads, sum(impressions) AS paid_impressions, sum(clicks) AS paid_clicks
    FROM ad_performance, newest WHERE date > newest.day - INTERVAL 28 DAY GROUP BY pin_id
)
SELECT p.pin_id, p.title, paid.ads, o.organic_impressions, paid.paid_impressions, o.organic_saves,
       paid.paid_clicks
FROM paid
JOIN pins p USING (pin_id)
LEFT JOIN organic o USING (pin_id)
ORDER BY paid.paid_impressions DESC
LIMIT 20;

-- name: video_pin_funnel
-- Video pins over the last 28 days: starts, views, 10-second views and 95 % completions, with each step as a
-- share of starts (from sums), and the average play time per start in seconds: total play time / starts, which is
-- how Pinterest's average is made (video_avg_watch_time = video_v50_watch_time / video_start, in milliseconds).
SELECT p.pin_id, p.title, sum(d.video_start) AS starts, sum(d.video_mrc_view) AS views,
       sum(d.video_10s_view) AS views_10s, sum(d.quartile_95_percent_view) AS completions_95,
       round(sum(d.video_mrc_view) / nullif(sum(d.video_start), 0), 3) AS view_share,
       round(sum(d.quartile_95_percent_view) / nullif(sum(d.video_start), 0), 3) AS completion_share,
       round(sum(d.video_v50_watch_time) / nullif(sum(d.video_start), 0) / 1000, 2) AS avg_seconds_per_start
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

-- name: campaign_changes_over_time
-- Every version of each campaign the runs have seen (status, budget caps, name), oldest first: a campaign paused,
-- resumed or re-budgeted shows one row per state, dated by the first run that saw it (campaigns_history).
SELECT h.campaign_id, h.name, a.name AS ad_account, h.status, h.daily_spend_cap / 1e6 AS daily_spend_cap,
       h.lifetime_spend_cap / 1e6 AS lifetime_spend_cap, a.currency, h.valid_from, h.valid_to, h.is_current
FROM campaigns_history h
LEFT JOIN ad_accounts a USING (ad_account_id)
ORDER BY h.campaign_id, h.valid_from;

-- name: ad_groups_as_they_were_a_week_ago
-- Ad groups in the state they had 7 days before the newest snapshot (the version valid on that day; the oldest one
-- while the history is shorter), beside their state now: what changed in the last week.
WITH day AS (SELECT greatest(min(valid_from), max(valid_from) - 7) AS d FROM ad_groups_history)
SELECT h.ad_group_id, h.name, h.status AS status_then, n.status AS status_now,
       h.budget_in_micro_currency / 1e6 AS budget_then, n.budget_in_micro_currency / 1e6 AS budget_now
FROM ad_groups_history h
JOIN ad_groups n USING (ad_group_id)
CROSS JOIN day
WHERE h.valid_from <= day.d AND (h.valid_to IS NULL OR h.valid_to > day.d)
ORDER BY h.ad_group_id;
