package schema

import (
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/sluice-db/sluice/change"
)

// ALTER TABLE: each spec applied in statement order to a working copy of
// the table, as the server applies them.

func (a *ddlApplier) alterTable(s *ast.AlterTableStmt) error {
	key, _, _, err := a.name(s.Table)
	if err != nil {
		return err
	}
	d := a.edit(key)
	if d == nil {
		a.unknown(key, fmt.Sprintf("alter table %s: the history does not know the table; it stays unknown until a TABLE_MAP with full metadata or a refresh", key))
		return nil
	}
	env := a.env
	env.charset, env.collation = d.Table.Charset, d.Table.Collation
	newKey := key
	for _, spec := range s.Specs {
		if err := a.alterSpec(d, &env, spec, &newKey); err != nil {
			return fmt.Errorf("alter table %s: %w", key, err)
		}
	}
	for _, v := range a.norm.visibility {
		if i := d.column(v.column); i >= 0 {
			d.Table.Columns[i].Invisible = v.invisible
		} else {
			a.warn(fmt.Sprintf("alter table %s: column %s made (in)visible does not exist in the history", key, v.column))
		}
	}
	if a.norm.dropVersion {
		// The implicit columns go with the versioning; explicit ones the
		// statement drops itself (MariaDB insists).
		if d.HiddenVersioning {
			for _, c := range []string{d.RowEnd, d.RowStart} {
				if i := d.column(c); i >= 0 {
					d.dropColumn(i)
				}
			}
		}
		d.RowStart, d.RowEnd, d.HiddenVersioning = "", "", false
	}
	d.finalize()
	if newKey != key {
		a.put(key, nil)
		a.put(newKey, d)
	}
	return nil
}

func (a *ddlApplier) alterSpec(d *tableDef, env *columnEnv, spec *ast.AlterTableSpec, newKey *tableKey) error {
	t := &d.Table
	switch spec.Tp {
	case ast.AlterTableOption:
		cs, co, convert, set := a.tableCharset(spec.Options, t.Schema, t.Charset, t.Collation)
		if !set {
			return nil
		}
		t.Charset, t.Collation = cs, co
		env.charset, env.collation = cs, co
		if convert {
			a.convertColumns(d, env, cs, co)
		}
	case ast.AlterTableAddColumns:
		for i, cd := range spec.NewColumns {
			pos := spec.Position
			if i > 0 {
				pos = nil
			}
			if err := a.addColumn(d, env, cd, pos, spec.IfNotExists); err != nil {
				return err
			}
		}
		for _, c := range spec.NewConstraints {
			a.addConstraint(d, c)
		}
	case ast.AlterTableAddConstraint:
		a.addConstraint(d, spec.Constraint)
	case ast.AlterTableDropColumn:
		i := d.column(spec.OldColumnName.Name.O)
		if i < 0 {
			if !spec.IfExists {
				a.warn(fmt.Sprintf("table %s.%s: dropped column %s does not exist in the history", t.Schema, t.Name, spec.OldColumnName.Name.O))
			}
			return nil
		}
		d.dropColumn(i)
	case ast.AlterTableDropPrimaryKey:
		if p := d.primary(); p >= 0 {
			d.Indexes = append(d.Indexes[:p], d.Indexes[p+1:]...)
		}
	case ast.AlterTableDropIndex:
		if !d.dropIndex(spec.Name) && !spec.IfExists {
			a.warn(fmt.Sprintf("table %s.%s: dropped index %s does not exist in the history", t.Schema, t.Name, spec.Name))
		}
	case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
		old := spec.NewColumns[0].Name.Name.O
		if spec.Tp == ast.AlterTableChangeColumn {
			old = spec.OldColumnName.Name.O
		}
		i := d.column(old)
		if i < 0 {
			if !spec.IfExists {
				a.warn(fmt.Sprintf("table %s.%s: changed column %s does not exist in the history", t.Schema, t.Name, old))
			}
			return nil
		}
		r, err := env.column(spec.NewColumns[0])
		if err != nil {
			return err
		}
		if !strings.EqualFold(t.Columns[i].Name, r.col.Name) || t.Columns[i].Name != r.col.Name {
			d.renameColumn(t.Columns[i].Name, r.col.Name)
		}
		t.Columns[i] = r.col
		if spec.Position != nil && spec.Position.Tp != ast.ColumnPositionNone {
			col := t.Columns[i]
			t.Columns = append(t.Columns[:i], t.Columns[i+1:]...)
			at, err := a.position(d, spec.Position)
			if err != nil {
				return err
			}
			t.Columns = append(t.Columns, change.Column{})
			copy(t.Columns[at+1:], t.Columns[at:])
			t.Columns[at] = col
		}
		a.columnKeys(d, r)
	case ast.AlterTableRenameColumn:
		i := d.column(spec.OldColumnName.Name.O)
		if i < 0 {
			a.warn(fmt.Sprintf("table %s.%s: renamed column %s does not exist in the history", t.Schema, t.Name, spec.OldColumnName.Name.O))
			return nil
		}
		d.renameColumn(t.Columns[i].Name, spec.NewColumnName.Name.O)
		t.Columns[i].Name = spec.NewColumnName.Name.O
	case ast.AlterTableRenameTable:
		k, schema, name, err := a.name(spec.NewTable)
		if err != nil {
			return err
		}
		t.Schema, t.Name = schema, name
		*newKey = k
	case ast.AlterTableAlterColumn:
		cd := spec.NewColumns[0]
		i := d.column(cd.Name.Name.O)
		if i < 0 {
			a.warn(fmt.Sprintf("table %s.%s: altered column %s does not exist in the history", t.Schema, t.Name, cd.Name.Name.O))
			return nil
		}
		c := &t.Columns[i]
		if len(cd.Options) == 0 { // DROP DEFAULT
			c.Default = nil
			return nil
		}
		def, err := renderDefault(cd.Options[0].Expr, c)
		if err != nil {
			return err
		}
		c.Default = def
	case ast.AlterTableDropCheck:
		// DROP CONSTRAINT x drops a unique key of that name too (MySQL 8.0.19+,
		// MariaDB); a CHECK or FOREIGN KEY does not concern the history.
		if i := d.index(spec.Constraint.Name); i >= 0 && (d.Indexes[i].Kind == indexUnique || d.Indexes[i].Kind == indexPrimary) {
			d.Indexes = append(d.Indexes[:i], d.Indexes[i+1:]...)
		}
	case ast.AlterTableRenameIndex:
		if i := d.index(spec.FromKey.O); i >= 0 {
			d.Indexes[i].Name = spec.ToKey.O
		} else {
			a.warn(fmt.Sprintf("table %s.%s: renamed index %s does not exist in the history", t.Schema, t.Name, spec.FromKey.O))
		}
	}
	return nil
}

// convertColumns applies CONVERT TO CHARACTER SET: every text column takes
// the character set, and TEXT types grow so they still hold as many
// characters (as MySQL does). To binary, text types become their binary
// counterparts.
func (a *ddlApplier) convertColumns(d *tableDef, env *columnEnv, cs, co string) {
	for i := range d.Table.Columns {
		c := &d.Table.Columns[i]
		switch c.Type {
		case change.TypeChar, change.TypeVarChar, change.TypeText, change.TypeEnum, change.TypeSet:
		default:
			continue
		}
		if c.Type == change.TypeText {
			chars := textCapacity(c.SQLType) / int64(charsetMaxBytes(c.Charset))
			need := chars * int64(charsetMaxBytes(cs))
			if cs == "binary" {
				need = chars
			}
			kind := textKindFor(need)
			if textCapacity(c.SQLType) > textCapacity(kind) {
				kind = strings.TrimSuffix(c.SQLType, "text")
			}
			c.SQLType = kind + pick(cs == "binary", "blob", "text")
		}
		if cs == "binary" {
			switch c.Type {
			case change.TypeChar:
				c.Type = change.TypeBinary
			case change.TypeVarChar:
				c.Type = change.TypeVarBinary
			case change.TypeText:
				c.Type = change.TypeBlob
			}
		}
		c.Charset, c.Collation = cs, co
		if c.Type != change.TypeText && c.Type != change.TypeBlob {
			c.SQLType = env.sqlType(c, c.Length, -1, strings.Contains(c.SQLType, "zerofill"))
		}
	}
}
