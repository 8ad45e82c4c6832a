"""Stage evaluators behind ``duihua eval <stage> --data FILE``: a readable table, then one JSON line."""
