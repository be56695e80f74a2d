-- Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d),
-- as POSTGRES_USER (mlops_user) connected to POSTGRES_DB (loan_default).
-- The tables themselves come from the Alembic migrations (`loan-default init-db`, run by
-- the compose `init` service), so this file only prepares what they need.

-- Project schema: raw_data, processed_data, model_metadata, predictions, model_performance ...
CREATE SCHEMA IF NOT EXISTS loan_data AUTHORIZATION mlops_user;

-- Airflow's own metadata database, kept apart from the project data.
SELECT 'CREATE DATABASE airflow OWNER mlops_user'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'airflow')\gexec
