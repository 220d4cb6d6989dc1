//! The QM9 tables of PyPI `qm9pack==1.0.3` (`qm9pack/data/qm9_part{1,2,3}.csv`): one molecule
//! per row, 25 columns, among them the element list, the XYZ geometry in Ångström and the
//! computed properties (Ramakrishnan et al., Scientific Data 2014).

use std::path::Path;

use super::csv::Csv;
use super::{read_file, FormatError, FormatResult};

/// The 25 columns of a qm9pack CSV, in order.
pub const COLUMNS: [&str; 25] = [
    "XYZ_file",
    "Index",
    "SMILES",
    "InChi",
    "N_atoms",
    "Stoichiometry",
    "Elements",
    "XYZ_Ang",
    "Mulliken_pop",
    "Harmonic_Freq_cmi",
    "RotA_GHz",
    "RotB_GHz",
    "RotC_GHz",
    "Dipole_debye",
    "Polarizability_bohr3",
    "HOMO_au",
    "LUMO_au",
    "HOMO_LUMO_gap_au",
    "R2_bohr2",
    "ZPVE_au",
    "InternalEnergy_0K_au",
    "InternalEnergy_298K_au",
    "Enthalphy_298K_au",
    "GibbsFreeEnergy_298K_au",
    "Heatcapacity_Cv_cal_mol_K",
];

/// The 11 targets of the usual MTL protocol: (task name, source column).
pub const TARGETS: [(&str, &str); 11] = [
    ("mu", "Dipole_debye"),
    ("alpha", "Polarizability_bohr3"),
    ("homo", "HOMO_au"),
    ("lumo", "LUMO_au"),
    ("r2", "R2_bohr2"),
    ("zpve", "ZPVE_au"),
    ("u0", "InternalEnergy_0K_au"),
    ("u298", "InternalEnergy_298K_au"),
    ("h298", "Enthalphy_298K_au"),
    ("g298", "GibbsFreeEnergy_298K_au"),
    ("cv", "Heatcapacity_Cv_cal_mol_K"),
];

/// Elements of QM9 with their nuclear charges.
pub const ELEMENTS: [(&str, u8); 5] = [("H", 1), ("C", 6), ("N", 7), ("O", 8), ("F", 9)];

/// One molecule: its index in QM9, atoms and the 11 targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Molecule {
    /// QM9 index (1-based, as in the `Index` column).
    pub index: u32,
    /// Nuclear charge of each atom.
    pub charges: Vec<u8>,
    /// Position of each atom, Ångström.
    pub positions: Vec<[f64; 3]>,
    /// The values of [`TARGETS`], in order.
    pub targets: [f64; 11],
}

fn column(name: &str) -> usize {
    COLUMNS
        .iter()
        .position(|c| *c == name)
        .unwrap_or(usize::MAX)
}

fn elements(csv: &Csv, row: usize, col: usize) -> FormatResult<Vec<u8>> {
    let s = csv.rows[row][col].trim();
    let inner = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| {
            FormatError::invalid(
                &csv.file,
                csv.at(row, col),
                "a list like ['C','H']",
                format!("`{s}`"),
            )
        })?;
    inner
        .split(',')
        .map(|sym| {
            let sym = sym.trim().trim_matches('\'');
            ELEMENTS
                .iter()
                .find(|(e, _)| *e == sym)
                .map(|(_, z)| *z)
                .ok_or_else(|| {
                    FormatError::invalid(
                        &csv.file,
                        csv.at(row, col),
                        "one of H, C, N, O, F",
                        format!("`{sym}`"),
                    )
                })
        })
        .collect()
}

fn positions(csv: &Csv, row: usize, col: usize, atoms: usize) -> FormatResult<Vec<[f64; 3]>> {
    let s = &csv.rows[row][col];
    let values: Vec<f64> = s
        .split([',', '[', ']'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    FormatError::invalid(
                        &csv.file,
                        csv.at(row, col),
                        "finite coordinates",
                        format!("`{t}`"),
                    )
                })
        })
        .collect::<FormatResult<_>>()?;
    if values.len() != 3 * atoms {
        return Err(FormatError::invalid(
            &csv.file,
            csv.at(row, col),
            format!("{} coordinates (3 per atom, N_atoms = {atoms})", 3 * atoms),
            format!("{} values", values.len()),
        ));
    }
    Ok(values.chunks(3).map(|c| [c[0], c[1], c[2]]).collect())
}

/// Decodes one qm9pack CSV file.
pub fn parse(file: &str, bytes: &[u8]) -> FormatResult<Vec<Molecule>> {
    let csv = Csv::parse(file, bytes)?;
    csv.expect_header(&COLUMNS)?;
    let (c_index, c_atoms, c_elements, c_xyz) = (
        column("Index"),
        column("N_atoms"),
        column("Elements"),
        column("XYZ_Ang"),
    );
    let target_cols: Vec<usize> = TARGETS.iter().map(|(_, c)| column(c)).collect();
    (0..csv.rows.len())
        .map(|row| {
            let index = csv.number(row, c_index)?;
            let n = csv.number(row, c_atoms)?;
            let atoms = n as usize;
            if n.fract() != 0.0 || !(1.0..=64.0).contains(&n) {
                return Err(FormatError::invalid(
                    &csv.file,
                    csv.at(row, c_atoms),
                    "an atom count in 1..=64",
                    n,
                ));
            }
            let charges = elements(&csv, row, c_elements)?;
            if charges.len() != atoms {
                return Err(FormatError::invalid(
                    &csv.file,
                    csv.at(row, c_elements),
                    format!("{atoms} elements (N_atoms)"),
                    charges.len(),
                ));
            }
            let mut targets = [0.0; 11];
            for (t, &c) in targets.iter_mut().zip(&target_cols) {
                *t = csv.number(row, c)?;
            }
            Ok(Molecule {
                index: index as u32,
                charges,
                positions: positions(&csv, row, c_xyz, atoms)?,
                targets,
            })
        })
        .collect()
}

/// The three part files of a qm9pack snapshot.
pub const PART_FILES: [&str; 3] = ["qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv"];

/// Reads every molecule of the part files under `dir`, in file order.
pub fn read_dir(dir: &Path) -> FormatResult<Vec<Molecule>> {
    let mut out = Vec::new();
    for name in PART_FILES {
        let path = dir.join(name);
        out.extend(parse(&path.display().to_string(), &read_file(&path)?)?);
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Two molecules copied from qm9pack's `qm9_part1.csv` (methane and ammonia).
    pub(crate) const FIXTURE: &str = concat!(
        "XYZ_file,Index,SMILES,InChi,N_atoms,Stoichiometry,Elements,XYZ_Ang,Mulliken_pop,Harmonic_Freq_cmi,RotA_GHz,RotB_GHz,RotC_GHz,Dipole_debye,Polarizability_bohr3,HOMO_au,LUMO_au,HOMO_LUMO_gap_au,R2_bohr2,ZPVE_au,InternalEnergy_0K_au,InternalEnergy_298K_au,Enthalphy_298K_au,GibbsFreeEnergy_298K_au,Heatcapacity_Cv_cal_mol_K\n",
        "\"dsgdb9nsd_000001.xyz\",1,\"C\",\"InChI=1S/CH4/h1H4\",5,\"[4,1,0,0,0]\",\"['C','H','H','H','H']\",\"[[-0.0126981359,1.0858041578,0.0080009958],[0.002150416,-0.0060313176,0.0019761204],[1.0117308433,1.4637511618,0.0002765748],[-0.540815069,1.4475266138,-0.8766437152],[-0.5238136345,1.4379326443,0.9063972942]]\",\"[-0.535689,0.133921,0.133922,0.133923,0.133923]\",\"[1341.307,1341.3284,1341.365,1562.6731,1562.7453,3038.3205,3151.6034,3151.6788,3151.7078]\",157.7118,157.70997,157.70699,0.,13.21,-0.3877,0.1171,0.5048,35.3641,0.044749,-40.47893,-40.476062,-40.475117,-40.498597,6.469\n",
        "\"dsgdb9nsd_000002.xyz\",2,\"N\",\"InChI=1S/H3N/h1H3\",4,\"[3,0,1,0,0]\",\"['N','H','H','H']\",\"[[-0.0404260543,1.0241077531,0.0625637998],[0.0172574639,0.0125452063,-0.0273771593],[0.9157893661,1.3587451948,-0.0287577581],[-0.5202777357,1.3435321258,-0.7755426124]]\",\"[-0.707143,0.235712,0.235712,0.23572]\",\"[1103.8733,1684.1158,1684.3072,3458.7145,3575.2414,3575.3343]\",293.60975,293.54111,191.39397,1.6256,9.46,-0.257,0.0829,0.3399,26.1563,0.034358,-56.525887,-56.523026,-56.522082,-56.544961,6.316\n",
    );

    #[test]
    fn fixture_rows_decode_to_known_values() {
        let mols = parse("qm9_part1.csv", FIXTURE.as_bytes()).unwrap();
        assert_eq!(mols.len(), 2);
        assert_eq!(mols[0].index, 1);
        assert_eq!(mols[0].charges, [6, 1, 1, 1, 1]);
        assert_eq!(mols[1].charges, [7, 1, 1, 1]);
        assert_eq!(
            mols[1].positions[0],
            [-0.0404260543, 1.0241077531, 0.0625637998]
        );
        assert_eq!(
            mols[0].targets,
            [
                0.0, 13.21, -0.3877, 0.1171, 35.3641, 0.044749, -40.47893, -40.476062, -40.475117,
                -40.498597, 6.469
            ]
        );
    }

    #[test]
    fn damaged_rows_name_row_and_column() {
        let bad_count = FIXTURE.replace("\",4,\"[3,0,1,0,0]", "\",3,\"[3,0,1,0,0]");
        let err = parse("p.csv", bad_count.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("p.csv: data row 2 column `Elements`: expected 3 elements"),
            "{err}"
        );
        let bad_elem = FIXTURE.replace("['N','H'", "['X','H'");
        let err = parse("p.csv", bad_elem.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("one of H, C, N, O, F, found `X`"), "{err}");
        let bad_target = FIXTURE.replace(",6.316", ",nan");
        let err = parse("p.csv", bad_target.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column `Heatcapacity_Cv_cal_mol_K`") && err.contains("`nan`"),
            "{err}"
        );
        let bad_header = FIXTURE.replace("SMILES", "Smiles");
        let err = parse("p.csv", bad_header.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("header column 3: expected `SMILES`"), "{err}");
    }
}
