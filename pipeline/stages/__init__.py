"""Pipeline stages. Each module holds one stage family; configs in ``conf/<group>/`` point at these classes."""
