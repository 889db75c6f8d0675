-- The ledger's write path on PostgreSQL: one journal entry in one round trip,
-- or many entries in one round trip and one commit (group commit).
-- Version 5 (migration 0025), replacing every function of version 4 (0024).
--
-- A shipped version is never edited: a change is a new file applied by a new
-- migration (tests/integration/test_migrations.py checks that the functions in a
-- migrated database are the newest file's).
--
-- cagnotte.ledger.sqlite_backend carries out the same steps from Python on
-- SQLite; the test suite runs the same ledger tests against both, so the two
-- must agree. Errors are raised with the stable domain code as the message
-- (SQLSTATE P0001); Python maps them to DomainError subclasses.
--
-- Changes from version 4: cagnotte_post_entries, which posts a batch of entries
-- in one statement (one transaction), each entry as cagnotte_post_entry posts it
-- but in a subtransaction of its own, so that a refused entry fails alone and
-- its error comes back in the answer. Every other function is version 4's.
--
-- Changes from version 3 to 4: posting a hold may name when the lot it credits
-- expires (`lot_expires_at` of a post, as a transfer has): temporary points
-- held for a check's return window keep their expiry once the window ends.
-- cagnotte_resolve_hold takes it as a ninth argument (the eight-argument
-- version is dropped, so that no overload is left behind).
--
-- Changes from version 2: a reversal asked for near the counters' end, after a
-- partial one, is reversal_exceeds_transfer (as on SQLite) instead of an overflow:
-- what is left is compared, not what was reversed plus what is asked.
--
-- Changes from version 1 to 2:
-- - accounts are found by (merchant_id, id), never by id alone, and no function
--   returns a table's row type (both needed to distribute the tables by merchant);
-- - an Idempotency-Key is claimed by a row of idempotency_records (a row of the
--   merchant) instead of an advisory lock (advisory locks are per node);
-- - transfers and journal entries refuse UPDATE, DELETE and TRUNCATE.

-- The flags of an account of one of the allowed merchants. A row type of our
-- own, not the table's: a distributed table's row type is not to be returned.
DROP FUNCTION IF EXISTS cagnotte_account(uuid, uuid[]);
CREATE OR REPLACE FUNCTION cagnotte_account(
    p_account_id uuid, p_allowed_merchants uuid[],
    OUT merchant_id uuid, OUT asset_code text, OUT balance_shards int,
    OUT uses_lots boolean, OUT frozen boolean
) LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- By (merchant_id, id): the primary key, and the distribution column first.
    SELECT account.merchant_id, account.asset_code, account.balance_shards,
           account.uses_lots, account.frozen
    INTO merchant_id, asset_code, balance_shards, uses_lots, frozen
    FROM accounts AS account
    WHERE account.merchant_id = ANY (p_allowed_merchants) AND account.id = p_account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account_not_found' USING DETAIL = p_account_id::text;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION cagnotte_consume_lots(
    p_merchant_id uuid, p_account_id uuid, p_amount bigint
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_left bigint := p_amount;
    v_lot record;
    v_take bigint;
BEGIN
    -- Soonest-expiring lots first; lots without an expiry last.
    FOR v_lot IN
        SELECT id, remaining FROM lots
        WHERE merchant_id = p_merchant_id AND account_id = p_account_id AND remaining > 0
        ORDER BY expires_at ASC NULLS LAST, created_at, id
        FOR UPDATE
    LOOP
        v_take := least(v_left, v_lot.remaining);
        UPDATE lots SET remaining = remaining - v_take
        WHERE merchant_id = p_merchant_id AND id = v_lot.id;
        v_left := v_left - v_take;
        EXIT WHEN v_left = 0;
    END LOOP;
END
$$;

-- Locks two balance rows in one fixed order: rows of one-row accounts before
-- shard rows, then by account and shard. Transfers between the same accounts in
-- opposite directions would otherwise each hold one row and wait for the other:
-- a deadlock. One-row accounts come first because an entry of several
-- operations locks all of its one-row accounts up front (cagnotte_post_entry)
-- and takes shard rows only as it goes.
CREATE OR REPLACE FUNCTION cagnotte_lock_balances(
    p_first_merchant_id uuid, p_first_account_id uuid, p_first_shard int,
    p_first_sharded boolean,
    p_second_merchant_id uuid, p_second_account_id uuid, p_second_shard int,
    p_second_sharded boolean
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM account_balances
    WHERE (merchant_id, account_id, shard) IN (
        (p_first_merchant_id, p_first_account_id, p_first_shard),
        (p_second_merchant_id, p_second_account_id, p_second_shard))
    ORDER BY CASE WHEN account_id = p_first_account_id THEN p_first_sharded
                  ELSE p_second_sharded END,
             account_id, shard
    FOR UPDATE;
END
$$;

-- Locks and returns a shard row of a sharded (hot) account: a free one,
-- starting from this backend's own, so that concurrent entries crediting the
-- same merchant account do not wait for each other's commit. Only when every
-- shard is taken does it queue, on its own shard.
CREATE OR REPLACE FUNCTION cagnotte_take_shard(
    p_merchant_id uuid, p_account_id uuid, p_shards int
) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_own int := pg_backend_pid() % p_shards;
    v_shard int;
BEGIN
    SELECT shard INTO v_shard FROM account_balances
    WHERE merchant_id = p_merchant_id AND account_id = p_account_id
    ORDER BY (shard - v_own + p_shards) % p_shards
    LIMIT 1
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        PERFORM 1 FROM account_balances
        WHERE merchant_id = p_merchant_id AND account_id = p_account_id AND shard = v_own
        FOR UPDATE;
        v_shard := v_own;
    END IF;
    RETURN v_shard;
END
$$;

-- Moves p_amount (posted, or pending when p_pending) between two accounts and
-- records the transfer. Returns the transfer as jsonb.
CREATE OR REPLACE FUNCTION cagnotte_move(
    p_merchant_id uuid, p_entry_id uuid, p_now timestamptz, p_allowed_merchants uuid[],
    p_id uuid, p_debit_id uuid, p_credit_id uuid, p_amount bigint, p_kind text,
    p_code text, p_reference text, p_expires_at timestamptz, p_reverses_id uuid,
    p_lot_expires_at timestamptz
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_debit record;
    v_credit record;
    v_debit_shard int := 0;
    v_credit_shard int := 0;
    v_pending boolean := p_kind = 'pending';
    v_credit_first boolean;
    v_debit_balance record;
    v_credit_balance record;
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'invalid_input' USING DETAIL = 'amount must be positive';
    END IF;
    IF p_debit_id = p_credit_id THEN
        RAISE EXCEPTION 'same_account';
    END IF;
    SELECT * INTO v_debit FROM cagnotte_account(p_debit_id, p_allowed_merchants);
    SELECT * INTO v_credit FROM cagnotte_account(p_credit_id, p_allowed_merchants);
    IF v_debit.asset_code <> v_credit.asset_code THEN
        RAISE EXCEPTION 'asset_mismatch';
    END IF;
    IF v_debit.frozen OR v_credit.frozen THEN
        RAISE EXCEPTION 'account_frozen';
    END IF;

    -- Rows are locked in the order of cagnotte_lock_balances: those of one-row
    -- accounts first (by account), then a shard row of each sharded account.
    PERFORM 1 FROM account_balances
    WHERE (merchant_id, account_id, shard) IN (
        (v_debit.merchant_id,
         CASE WHEN v_debit.balance_shards = 1 THEN p_debit_id END, 0),
        (v_credit.merchant_id,
         CASE WHEN v_credit.balance_shards = 1 THEN p_credit_id END, 0))
    ORDER BY account_id
    FOR UPDATE;
    -- Two sharded sides take theirs in account order too.
    v_credit_first := v_credit.balance_shards > 1 AND p_credit_id < p_debit_id;
    IF v_credit_first THEN
        v_credit_shard := cagnotte_take_shard(
            v_credit.merchant_id, p_credit_id, v_credit.balance_shards);
    END IF;
    IF v_debit.balance_shards > 1 THEN
        v_debit_shard := cagnotte_take_shard(
            v_debit.merchant_id, p_debit_id, v_debit.balance_shards);
    END IF;
    IF v_credit.balance_shards > 1 AND NOT v_credit_first THEN
        v_credit_shard := cagnotte_take_shard(
            v_credit.merchant_id, p_credit_id, v_credit.balance_shards);
    END IF;
    -- The limit is checked by the statement that changes the balance. It is
    -- written as a subtraction, which cannot overflow on a limited account, so a
    -- debit beyond the balance is insufficient_funds even near the counters' end.
    UPDATE account_balances SET
        debits_pending = debits_pending + CASE WHEN v_pending THEN p_amount ELSE 0 END,
        debits_posted = debits_posted + CASE WHEN v_pending THEN 0 ELSE p_amount END
    WHERE merchant_id = v_debit.merchant_id AND account_id = p_debit_id
      AND shard = v_debit_shard
      AND (NOT debits_must_not_exceed_credits
           OR credits_posted - debits_posted - debits_pending >= p_amount)
    RETURNING debits_posted, credits_posted, debits_pending, credits_pending
    INTO v_debit_balance;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'insufficient_funds' USING DETAIL = p_debit_id::text;
    END IF;
    UPDATE account_balances SET
        credits_pending = credits_pending + CASE WHEN v_pending THEN p_amount ELSE 0 END,
        credits_posted = credits_posted + CASE WHEN v_pending THEN 0 ELSE p_amount END
    WHERE merchant_id = v_credit.merchant_id AND account_id = p_credit_id
      AND shard = v_credit_shard
      AND (NOT credits_must_not_exceed_debits
           OR debits_posted - credits_posted - credits_pending >= p_amount)
    RETURNING debits_posted, credits_posted, debits_pending, credits_pending
    INTO v_credit_balance;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'limit_exceeded' USING DETAIL = p_credit_id::text;
    END IF;

    INSERT INTO transfers (
        merchant_id, id, entry_id, debit_account_id, credit_account_id, debit_shard,
        credit_shard, asset_code, amount, kind, code, reference, expires_at, pending_id,
        reverses_id, created_at
    ) VALUES (
        p_merchant_id, p_id, p_entry_id, p_debit_id, p_credit_id, v_debit_shard,
        v_credit_shard, v_debit.asset_code, p_amount, p_kind, p_code, p_reference,
        p_expires_at, NULL, p_reverses_id, p_now
    );

    IF NOT v_pending THEN
        IF v_debit.uses_lots THEN
            PERFORM cagnotte_consume_lots(v_debit.merchant_id, p_debit_id, p_amount);
        END IF;
        IF v_credit.uses_lots THEN
            INSERT INTO lots (merchant_id, id, account_id, transfer_id, amount, remaining,
                              expires_at, created_at)
            VALUES (v_credit.merchant_id, gen_random_uuid(), p_credit_id, p_id, p_amount,
                    p_amount, p_lot_expires_at, p_now);
        END IF;
    END IF;

    RETURN jsonb_build_object(
        'id', p_id, 'kind', p_kind, 'code', p_code, 'debit_account_id', p_debit_id,
        'credit_account_id', p_credit_id, 'asset_code', v_debit.asset_code,
        'amount', p_amount, 'reference', p_reference, 'expires_at', p_expires_at,
        'pending_id', NULL, 'reverses_id', p_reverses_id, 'created_at', p_now,
        'debit_balance', CASE WHEN v_debit.balance_shards = 1
                              THEN to_jsonb(v_debit_balance) END,
        'credit_balance', CASE WHEN v_credit.balance_shards = 1
                               THEN to_jsonb(v_credit_balance) END
    );
END
$$;

-- Ends a hold: posts it (in full or in part), voids it, or expires it.
DROP FUNCTION IF EXISTS cagnotte_resolve_hold(
    uuid, uuid, timestamptz, uuid[], uuid, uuid, text, bigint);
CREATE OR REPLACE FUNCTION cagnotte_resolve_hold(
    p_merchant_id uuid, p_entry_id uuid, p_now timestamptz, p_allowed_merchants uuid[],
    p_id uuid, p_pending_id uuid, p_kind text, p_amount bigint, p_lot_expires_at timestamptz
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_hold transfers;
    v_posted bigint := 0;
    v_amount bigint;
    v_debit record;
    v_credit record;
    v_debit_balance record;
    v_credit_balance record;
BEGIN
    SELECT * INTO v_hold FROM transfers
    WHERE merchant_id = p_merchant_id AND id = p_pending_id AND kind = 'pending';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pending_transfer_not_found';
    END IF;
    SELECT * INTO v_debit FROM cagnotte_account(v_hold.debit_account_id, p_allowed_merchants);
    SELECT * INTO v_credit FROM cagnotte_account(v_hold.credit_account_id, p_allowed_merchants);
    IF p_kind = 'expire' THEN
        IF p_now < v_hold.expires_at OR v_hold.expires_at IS NULL THEN
            RAISE EXCEPTION 'invalid_input' USING DETAIL = 'the hold has not lapsed';
        END IF;
    ELSIF v_hold.expires_at IS NOT NULL AND p_now >= v_hold.expires_at THEN
        RAISE EXCEPTION 'pending_transfer_expired';
    END IF;
    IF p_kind = 'post' THEN
        v_posted := coalesce(p_amount, v_hold.amount);
        IF v_posted <= 0 THEN
            RAISE EXCEPTION 'invalid_input' USING DETAIL = 'amount must be positive';
        END IF;
        IF v_posted > v_hold.amount THEN
            RAISE EXCEPTION 'pending_amount_exceeded';
        END IF;
    END IF;
    v_amount := CASE WHEN p_kind = 'post' THEN v_posted ELSE v_hold.amount END;

    -- The resolution is written first: the unique index on pending_id makes a
    -- second, concurrent resolution wait here and then fail.
    INSERT INTO transfers (
        merchant_id, id, entry_id, debit_account_id, credit_account_id, debit_shard,
        credit_shard, asset_code, amount, kind, code, reference, expires_at, pending_id,
        reverses_id, created_at
    ) VALUES (
        p_merchant_id, p_id, p_entry_id, v_hold.debit_account_id, v_hold.credit_account_id,
        v_hold.debit_shard, v_hold.credit_shard, v_hold.asset_code, v_amount, p_kind,
        v_hold.code, v_hold.reference, NULL, p_pending_id, NULL, p_now
    );

    PERFORM cagnotte_lock_balances(
        v_debit.merchant_id, v_hold.debit_account_id, v_hold.debit_shard,
        v_debit.balance_shards > 1,
        v_credit.merchant_id, v_hold.credit_account_id, v_hold.credit_shard,
        v_credit.balance_shards > 1);
    UPDATE account_balances SET
        debits_pending = debits_pending - v_hold.amount,
        debits_posted = debits_posted + v_posted
    WHERE merchant_id = v_debit.merchant_id AND account_id = v_hold.debit_account_id
      AND shard = v_hold.debit_shard
    RETURNING debits_posted, credits_posted, debits_pending, credits_pending
    INTO v_debit_balance;
    UPDATE account_balances SET
        credits_pending = credits_pending - v_hold.amount,
        credits_posted = credits_posted + v_posted
    WHERE merchant_id = v_credit.merchant_id AND account_id = v_hold.credit_account_id
      AND shard = v_hold.credit_shard
    RETURNING debits_posted, credits_posted, debits_pending, credits_pending
    INTO v_credit_balance;

    IF v_posted > 0 THEN
        IF v_debit.uses_lots THEN
            PERFORM cagnotte_consume_lots(v_debit.merchant_id, v_hold.debit_account_id, v_posted);
        END IF;
        IF v_credit.uses_lots THEN
            INSERT INTO lots (merchant_id, id, account_id, transfer_id, amount, remaining,
                              expires_at, created_at)
            VALUES (v_credit.merchant_id, gen_random_uuid(), v_hold.credit_account_id, p_id, v_posted,
                    v_posted, p_lot_expires_at, p_now);
        END IF;
    END IF;

    RETURN jsonb_build_object(
        'id', p_id, 'kind', p_kind, 'code', v_hold.code,
        'debit_account_id', v_hold.debit_account_id,
        'credit_account_id', v_hold.credit_account_id, 'asset_code', v_hold.asset_code,
        'amount', v_amount, 'reference', v_hold.reference, 'expires_at', NULL,
        'pending_id', p_pending_id, 'reverses_id', NULL, 'created_at', p_now,
        'debit_balance', CASE WHEN v_debit.balance_shards = 1
                              THEN to_jsonb(v_debit_balance) END,
        'credit_balance', CASE WHEN v_credit.balance_shards = 1
                               THEN to_jsonb(v_credit_balance) END
    );
END
$$;

-- Reverses a posted transfer in full or in part by a linked correcting transfer.
CREATE OR REPLACE FUNCTION cagnotte_reverse(
    p_merchant_id uuid, p_entry_id uuid, p_now timestamptz, p_allowed_merchants uuid[],
    p_id uuid, p_reverses_id uuid, p_amount bigint, p_code text, p_reference text
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_original transfers;
    v_reversed bigint;
    v_amount bigint;
BEGIN
    -- The lock serialises concurrent reversals of one transfer; the row itself
    -- is never changed.
    SELECT * INTO v_original FROM transfers
    WHERE merchant_id = p_merchant_id AND id = p_reverses_id AND kind IN ('regular', 'post')
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'transfer_not_found';
    END IF;
    SELECT coalesce(sum(amount), 0) INTO v_reversed FROM transfers
    WHERE merchant_id = p_merchant_id AND reverses_id = p_reverses_id;
    v_amount := coalesce(p_amount, v_original.amount - v_reversed);
    IF v_amount <= 0 OR v_amount > v_original.amount - v_reversed THEN
        RAISE EXCEPTION 'reversal_exceeds_transfer';
    END IF;
    RETURN cagnotte_move(
        p_merchant_id, p_entry_id, p_now, p_allowed_merchants, p_id,
        v_original.credit_account_id, v_original.debit_account_id, v_amount, 'regular',
        coalesce(p_code, 'reversal'), coalesce(p_reference, v_original.reference), NULL,
        p_reverses_id, NULL
    );
END
$$;

CREATE OR REPLACE FUNCTION cagnotte_post_entry(
    p_merchant_id uuid, p_entry_id uuid, p_kind text, p_idempotency_key text,
    p_request_hash text, p_memo text, p_now timestamptz, p_allowed_merchants uuid[],
    p_operations jsonb
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_existing record;
    v_operation jsonb;
    v_transfer jsonb;
    v_transfers jsonb := '[]'::jsonb;
    v_balances jsonb := '{}'::jsonb;
    v_result jsonb;
    v_account_ids uuid[];
BEGIN
    IF p_idempotency_key IS NOT NULL THEN
        -- The key is claimed by a row of the merchant. A concurrent request with
        -- the same key waits here on the primary key until the first one ends;
        -- if that one committed, this one replays its answer instead of
        -- colliding with its transfer ids, and if it was refused (rolled back),
        -- this one goes ahead.
        INSERT INTO idempotency_records (merchant_id, key, operation, request_hash,
                                         entry_id, created_at)
        VALUES (p_merchant_id, p_idempotency_key, p_kind, p_request_hash, p_entry_id, p_now)
        ON CONFLICT (merchant_id, key) DO NOTHING;
        IF NOT FOUND THEN
            SELECT record.request_hash, record.entry_id, record.answer
            INTO v_existing
            FROM idempotency_records AS record
            WHERE record.merchant_id = p_merchant_id AND record.key = p_idempotency_key;
            IF v_existing.request_hash IS DISTINCT FROM p_request_hash THEN
                RAISE EXCEPTION 'idempotency_key_reused';
            END IF;
            IF v_existing.answer IS NOT NULL THEN
                RETURN v_existing.answer || '{"replayed": true}'::jsonb;
            END IF;
            RETURN (SELECT entry.result FROM journal_entries AS entry
                    WHERE entry.merchant_id = p_merchant_id
                      AND entry.id = v_existing.entry_id) || '{"replayed": true}'::jsonb;
        END IF;
    END IF;

    -- An entry of several operations locks the rows of every one-row account
    -- it touches first, in one order, so that entries whose transfers cross each
    -- other queue instead of deadlocking. (Shard rows are chosen per transfer and
    -- locked there, after every one-row account: see cagnotte_lock_balances.)
    -- An entry of one operation needs none of this: its transfer locks its two
    -- rows in that order itself. Every lookup here is by index (scalar
    -- subqueries), so the cost does not grow with the platform's accounts.
    IF jsonb_array_length(p_operations) > 1 THEN
        SELECT array_agg(touched.account_id ORDER BY touched.account_id)
        INTO v_account_ids
        FROM (
            SELECT DISTINCT unnest(ARRAY[
                (operation->>'debit_account_id')::uuid,
                (operation->>'credit_account_id')::uuid,
                (SELECT earlier.debit_account_id FROM transfers AS earlier
                 WHERE earlier.merchant_id = p_merchant_id
                   AND earlier.id = coalesce(operation->>'pending_id',
                                             operation->>'reverses_id')::uuid),
                (SELECT earlier.credit_account_id FROM transfers AS earlier
                 WHERE earlier.merchant_id = p_merchant_id
                   AND earlier.id = coalesce(operation->>'pending_id',
                                             operation->>'reverses_id')::uuid)
            ]) AS account_id
            FROM jsonb_array_elements(p_operations) AS operation
        ) AS touched
        WHERE (SELECT account.balance_shards FROM accounts AS account
               WHERE account.merchant_id = ANY (p_allowed_merchants)
                 AND account.id = touched.account_id) = 1;
        IF v_account_ids IS NOT NULL THEN
            PERFORM 1 FROM account_balances AS balance
            WHERE balance.merchant_id = ANY (p_allowed_merchants)
              AND balance.account_id = ANY (v_account_ids)
            ORDER BY balance.account_id, balance.shard
            FOR UPDATE OF balance;
        END IF;
    END IF;

    FOR v_operation IN SELECT value FROM jsonb_array_elements(p_operations) LOOP
        CASE v_operation->>'op'
        WHEN 'transfer', 'hold' THEN
            v_transfer := cagnotte_move(
                p_merchant_id, p_entry_id, p_now, p_allowed_merchants,
                (v_operation->>'id')::uuid, (v_operation->>'debit_account_id')::uuid,
                (v_operation->>'credit_account_id')::uuid, (v_operation->>'amount')::bigint,
                CASE WHEN v_operation->>'op' = 'hold' THEN 'pending' ELSE 'regular' END,
                v_operation->>'code', v_operation->>'reference',
                (v_operation->>'expires_at')::timestamptz, NULL,
                (v_operation->>'lot_expires_at')::timestamptz
            );
        WHEN 'post', 'void', 'expire' THEN
            v_transfer := cagnotte_resolve_hold(
                p_merchant_id, p_entry_id, p_now, p_allowed_merchants,
                (v_operation->>'id')::uuid, (v_operation->>'pending_id')::uuid,
                v_operation->>'op', (v_operation->>'amount')::bigint,
                (v_operation->>'lot_expires_at')::timestamptz
            );
        WHEN 'reverse' THEN
            v_transfer := cagnotte_reverse(
                p_merchant_id, p_entry_id, p_now, p_allowed_merchants,
                (v_operation->>'id')::uuid, (v_operation->>'reverses_id')::uuid,
                (v_operation->>'amount')::bigint, v_operation->>'code',
                v_operation->>'reference'
            );
        ELSE
            RAISE EXCEPTION 'invalid_input' USING DETAIL = 'unknown operation';
        END CASE;
        -- Balances after the entry, of the accounts that keep them on one row;
        -- a later transfer of the entry overwrites an earlier one's figures.
        IF jsonb_typeof(v_transfer->'debit_balance') = 'object' THEN
            v_balances := v_balances || jsonb_build_object(
                v_transfer->>'debit_account_id', v_transfer->'debit_balance');
        END IF;
        IF jsonb_typeof(v_transfer->'credit_balance') = 'object' THEN
            v_balances := v_balances || jsonb_build_object(
                v_transfer->>'credit_account_id', v_transfer->'credit_balance');
        END IF;
        v_transfers := v_transfers || jsonb_build_array(
            v_transfer - 'debit_balance' - 'credit_balance');
    END LOOP;

    v_result := jsonb_build_object(
        'entry_id', p_entry_id, 'kind', p_kind, 'created_at', p_now,
        'transfers', v_transfers, 'balances', v_balances, 'replayed', false
    );
    -- The key and the hash live in idempotency_records now; the entry keeps none.
    INSERT INTO journal_entries (merchant_id, id, idempotency_key, request_hash, kind, memo,
                                 result, created_at)
    VALUES (p_merchant_id, p_entry_id, NULL, NULL, p_kind, p_memo, v_result, p_now);
    RETURN v_result;
END
$$;

-- History is append-only: a mistake is corrected by a reversing transfer, never
-- by changing or removing one. SELECT … FOR UPDATE (which serialises reversals
-- of one transfer) is not an UPDATE and is not refused.
CREATE OR REPLACE FUNCTION cagnotte_refuse_history_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'history_is_append_only' USING DETAIL = TG_TABLE_NAME;
END
$$;

CREATE OR REPLACE TRIGGER transfers_append_only
    BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION cagnotte_refuse_history_change();
CREATE OR REPLACE TRIGGER transfers_never_truncated
    BEFORE TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION cagnotte_refuse_history_change();
CREATE OR REPLACE TRIGGER journal_entries_append_only
    BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION cagnotte_refuse_history_change();
CREATE OR REPLACE TRIGGER journal_entries_never_truncated
    BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION cagnotte_refuse_history_change();

-- Posts a batch of journal entries in one statement: one transaction, one
-- commit and one WAL flush for all of them (group commit: each worker of the
-- service gathers the payments that arrive while its batch is in flight).
-- p_entries is an array of objects carrying cagnotte_post_entry's arguments by
-- name ("allowed" a JSON array of merchant ids). Each entry is posted by
-- cagnotte_post_entry in a subtransaction of its own (the BEGIN … EXCEPTION
-- block): a refused entry is rolled back alone, with its claim of the
-- Idempotency-Key, and the others stand.
--
-- The answer is an array in the order of p_entries: {"result": …}, exactly what
-- cagnotte_post_entry answers (a replay too), or {"error": {"sqlstate",
-- "message", "detail", "constraint"}} for what cagnotte_post_entry refuses with:
-- a domain code (P0001), an overflow (22003), a broken unique constraint (23505,
-- e.g. transfer_exists). Any other error (a deadlock, a cancelled statement, a
-- bug) fails the whole batch, of which nothing commits: the service then posts
-- its entries one at a time, as without batching.
--
-- A batch holds its locks until it commits, so two batches could each hold a
-- row that a later entry of the other waits for. The rows of every one-row
-- account that the batch touches are therefore locked first, by account (the
-- order of cagnotte_lock_balances); shard rows of hot accounts are taken entry
-- by entry, after them, as in cagnotte_post_entry. Entries see each other in
-- order: a second payment from a wallet sees the first one's debit, and a
-- second request with the same Idempotency-Key replays the first (or, if the
-- first was refused, goes ahead).
CREATE OR REPLACE FUNCTION cagnotte_post_entries(p_entries jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_entry jsonb;
    v_result jsonb;
    v_answers jsonb := '[]'::jsonb;
    v_sqlstate text;
    v_message text;
    v_detail text;
    v_constraint text;
BEGIN
    PERFORM 1
    FROM account_balances AS balance
    JOIN (
        SELECT DISTINCT account.merchant_id, account.id
        FROM jsonb_array_elements(p_entries) AS entry
        CROSS JOIN LATERAL jsonb_array_elements(entry->'operations') AS operation
        CROSS JOIN LATERAL unnest(ARRAY[
            (operation->>'debit_account_id')::uuid,
            (operation->>'credit_account_id')::uuid,
            (SELECT earlier.debit_account_id FROM transfers AS earlier
             WHERE earlier.merchant_id = (entry->>'merchant_id')::uuid
               AND earlier.id = coalesce(operation->>'pending_id',
                                         operation->>'reverses_id')::uuid),
            (SELECT earlier.credit_account_id FROM transfers AS earlier
             WHERE earlier.merchant_id = (entry->>'merchant_id')::uuid
               AND earlier.id = coalesce(operation->>'pending_id',
                                         operation->>'reverses_id')::uuid)
        ]) AS touched (account_id)
        JOIN accounts AS account
          ON account.merchant_id = ANY (
                 ARRAY(SELECT jsonb_array_elements_text(entry->'allowed'))::uuid[])
         AND account.id = touched.account_id
        WHERE account.balance_shards = 1
    ) AS one_row
      ON balance.merchant_id = one_row.merchant_id AND balance.account_id = one_row.id
    ORDER BY balance.account_id, balance.shard
    FOR UPDATE OF balance;

    FOR v_entry IN SELECT value FROM jsonb_array_elements(p_entries) LOOP
        BEGIN
            v_result := cagnotte_post_entry(
                (v_entry->>'merchant_id')::uuid, (v_entry->>'entry_id')::uuid,
                v_entry->>'kind', v_entry->>'idempotency_key', v_entry->>'request_hash',
                v_entry->>'memo', (v_entry->>'now')::timestamptz,
                ARRAY(SELECT jsonb_array_elements_text(v_entry->'allowed'))::uuid[],
                v_entry->'operations');
            v_answers := v_answers || jsonb_build_array(jsonb_build_object('result', v_result));
        EXCEPTION WHEN raise_exception OR numeric_value_out_of_range OR unique_violation THEN
            GET STACKED DIAGNOSTICS
                v_sqlstate = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
                v_detail = PG_EXCEPTION_DETAIL, v_constraint = CONSTRAINT_NAME;
            v_answers := v_answers || jsonb_build_array(jsonb_build_object('error',
                jsonb_build_object('sqlstate', v_sqlstate, 'message', v_message,
                                   'detail', nullif(v_detail, ''),
                                   'constraint', nullif(v_constraint, ''))));
        END;
    END LOOP;
    RETURN v_answers;
END
$$;

-- History is append-only: a mistake is corrected by a reversing transfer, never
-- by changing or removing one. SELECT … FOR UPDATE (which serialises reversals
-- of one transfer) is not an UPDATE and is not refused.
CREATE OR REPLACE FUNCTION cagnotte_refuse_history_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'history_is_append_only' USING DETAIL = TG_TABLE_NAME;
END
$$;

CREATE OR REPLACE TRIGGER transfers_append_only
    BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION cagnotte_refuse_history_change();
CREATE OR REPLACE TRIGGER transfers_never_truncated
    BEFORE TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION cagnotte_refuse_history_change();
CREATE OR REPLACE TRIGGER journal_entries_append_only
    BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION cagnotte_refuse_history_change();
CREATE OR REPLACE TRIGGER journal_entries_never_truncated
    BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION cagnotte_refuse_history_change();
