"""Synthetic patient records with exact encounter-level gold.

Why: the encounter-boundary detector has to be tested and tuned on long, messy records whose
boundaries and fields are known exactly, and real charts can never be committed. This module
invents a chart (patient, dated encounters, notes), renders it with the conventions of a few source
systems (header families: the 17 legacy formats here, 60 grammar families in pipeline.synth_families,
so a detector can be trained on some families and measured on held-out ones), and computes the gold
from the rendered lines themselves: every line knows its
encounter, and every printed gold field (date, type, provider, facility) is a tagged,
noise-protected segment. The "hard" variant (header removal, copy-forward, false date cues, OCR
noise, pagination) edits that line structure before the text is assembled, so offsets and
fields stay exact by construction instead of being patched afterwards.

Conventions: spans tile the text; text between encounters (gaps, separators, page furniture)
belongs to the preceding encounter; a field is non-null only when printed inside its span in a
field position (header block, note sub-header, signature line, discharge summary, lab/imaging
report stamp). Clinical text is template-generated; every name and place is invented.
"""

from __future__ import annotations

import json
import math
import random
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import product
from pathlib import Path
from typing import Callable, NamedTuple

from pipeline.synth_families import (
    ACCOUNT_LAYOUTS,
    DATE_STYLES,
    DISTRACTOR_SLOTS,
    GRAMMAR_FAMILIES,
    GROUP_NAMES,
    NOTE_DATE_STYLES,
    Family,
    Furniture,
    fill,
    fmt_date,
    fmt_time,
    render_header,
)

__all__ = ["DATE_STYLES", "FAMILIES", "Family", "family_example", "fmt_date", "generate_corpus", "generate_record",
           "select_families"]

VARIANTS = ("clean", "hard")

# --------------------------------------------------------------------------------------------
# Vocabularies
# --------------------------------------------------------------------------------------------

FIRST_NAMES_F = (
    "Margaret", "Linda", "Rosa", "Evelyn", "Denise", "Priya", "Aisha", "Carmen", "Helen",
    "Judith", "Tamara", "Yolanda", "Grace", "Naomi", "Ingrid", "Beatrice", "Lorraine", "Mei",
    "Fatima", "Colleen", "Renata", "Odette", "Marisol", "Harriet",
)
FIRST_NAMES_M = (
    "Harold", "Raymond", "Luis", "Gerald", "Dennis", "Arjun", "Malik", "Victor", "Walter",
    "Eugene", "Tomas", "Curtis", "Howard", "Kenji", "Omar", "Stanley", "Russell", "Desmond",
    "Felix", "Leon", "Anselm", "Rufus", "Dmitri", "Everett",
)
LAST_NAMES = (
    "Okafor", "Brennan", "Castellano", "Whitfield", "Nakamura", "Dubois", "Haddad", "Lindqvist",
    "Moreau", "Pemberton", "Quintero", "Ramaswamy", "Sokolov", "Thibodeaux", "Vance", "Yilmaz",
    "Abernathy", "Delacroix", "Fairbanks", "Gallagher", "Hollister", "Kowalczyk", "Marchetti",
    "Novak", "Osei", "Prescott", "Rinaldi", "Stroud", "Takahashi", "Umberger", "Vasquez",
    "Winslow", "Zeller", "Achterberg", "Barrientos", "Crowder", "Esposito", "Farraday",
    "Grunwald", "Ingersoll", "Jablonski", "Kettering", "Lachance", "Mendelsohn", "Nwosu",
)
PLACE_NAMES = (
    "Riverside", "Lakeshore", "Cedar Hills", "Northgate", "Mercy Valley", "St. Brendan",
    "Pinecrest", "Harbor View", "Oak Ridge", "Summit County", "Willow Creek", "Fairmont",
    "Brookside", "Granite Falls", "Meadowbrook", "Kestrel Bay", "Ashford", "Bellmont",
)
STREETS = ("Main St", "Oak Ave", "Harbor Blvd", "Medical Center Dr", "Elm St", "Commerce Pkwy",
           "Hillcrest Rd", "Lakeview Ter")
TOWNS = ("Springdale", "Port Avery", "Millbrook", "Eastvale", "Corliss", "New Hadley")
ROI_VENDORS = ("Records Release Services", "ChartCopy ROI", "MedRecord Express", "HIM Release Desk")
CLINIC_KINDS = ("{} Family Medicine", "{} Internal Medicine", "{} Primary Care", "{} Medical Group")
HOSPITAL_KINDS = ("{} Regional Medical Center", "{} Community Hospital", "{} General Hospital",
                  "{} Memorial Hospital")
IMAGING_KINDS = ("{} Imaging Center", "{} Radiology Associates", "{} Imaging & MRI Center")
LAB_KINDS = ("{} Clinical Labs", "{} Pathology & Lab Services", "{} Reference Lab")
ASC_KINDS = ("{} Ambulatory Surgery Center", "{} Endoscopy & Surgery Center")

# Printed encounter type strings per category. No type string is a substring of a note title,
# section label or stock phrase, so a type is "present" only where it is tagged.
TYPE_NAMES = {
    "office": ("Office Visit", "Follow-up Visit", "Established Patient Visit", "Clinic Visit",
               "Annual Wellness Visit"),
    "ed": ("Emergency Department Visit", "ED Visit", "Emergency Room Visit"),
    "phone": ("Telephone Encounter", "Phone Encounter", "Telephone Visit"),
    "telehealth": ("Telehealth Visit", "Video Visit", "Virtual Visit"),
    "imaging": ("Diagnostic Imaging", "Imaging Study", "Radiology Exam"),
    "lab": ("Laboratory", "Lab Visit", "Outpatient Lab"),
    "procedure": ("Surgical Procedure", "Outpatient Procedure", "Procedure Visit",
                  "Outpatient Surgery"),
    "consult": ("Consultation", "Specialty Consultation", "New Consult"),
    "inpatient": ("Hospital Admission", "Inpatient Admission", "Inpatient Stay"),
}
CATEGORY_WEIGHTS = (("office", 34), ("ed", 11), ("phone", 7), ("telehealth", 6), ("imaging", 9),
                    ("lab", 9), ("procedure", 6), ("consult", 7), ("inpatient", 11))
# Relative text budget of one encounter (inpatient: per note).
CATEGORY_BUDGET = {"office": 1.0, "ed": 1.3, "phone": 0.35, "telehealth": 0.75, "imaging": 0.5,
                   "lab": 0.55, "procedure": 1.2, "consult": 1.1, "inpatient": 0.75}
# content chars (lo, hi), encounters (lo, hi)
SIZES = {"small": ((3_500, 9_500), (5, 8)), "medium": ((33_000, 72_000), (10, 22)),
         "large": ((260_000, 580_000), (24, 40))}


class Med(NamedTuple):
    drug: str
    dose: str
    route: str
    freq: str


class Problem(NamedTuple):
    name: str
    icd: str
    meds: tuple[Med, ...]
    status: tuple[str, ...]
    plan: tuple[str, ...]


class Acute(NamedTuple):
    complaint: str
    dx: str
    icd: str
    history: str
    associated: str
    negatives: str
    exam: str
    plan: tuple[str, ...]
    study: str | None


class Study(NamedTuple):
    name: str
    indication: str
    technique: str
    normal: tuple[str, ...]
    abnormal: tuple[str, ...]
    impression_normal: str
    impression_abnormal: str


class Proc(NamedTuple):
    name: str
    specialty: str
    pre_dx: str
    indication: str
    anesthesia: str
    findings: str
    steps: tuple[str, ...]
    specimens: str


class Admit(NamedTuple):
    dx: str
    icd: str
    complaint: str
    presentation: str
    treatment: str
    course: tuple[str, ...]
    consult: str | None
    study: str | None
    proc: str | None
    dc_meds: tuple[Med, ...]


class Specialty(NamedTuple):
    name: str
    clinic: str
    reasons: tuple[str, ...]
    impressions: tuple[str, ...]
    recs: tuple[str, ...]


CHRONIC = (
    Problem("Essential hypertension", "I10",
            (Med("lisinopril", "20 mg", "PO", "daily"), Med("amlodipine", "5 mg", "PO", "daily"),
             Med("hydrochlorothiazide", "25 mg", "PO", "daily")),
            ("Home blood pressure readings average {bp}.", "Blood pressure was {bp} at the last check on {prior}."),
            ("Continue current antihypertensive regimen.", "Low-sodium diet reinforced; recheck BP in 3 months.")),
    Problem("Type 2 diabetes mellitus without complications", "E11.9",
            (Med("metformin", "1000 mg", "PO", "BID"), Med("glipizide", "5 mg", "PO", "daily"),
             Med("insulin glargine", "22 units", "SC", "at bedtime")),
            ("Fasting glucose runs {glu_lo}-{glu_hi}; last A1c {a1c}% on {prior}.",
             "Reports good adherence to metformin; no hypoglycemic episodes."),
            ("A1c today; diabetic foot exam performed.",
             "Referred for annual retinal exam; last eye exam {prior_my}.")),
    Problem("Hyperlipidemia", "E78.5",
            (Med("atorvastatin", "40 mg", "PO", "nightly"), Med("rosuvastatin", "10 mg", "PO", "daily")),
            ("Last LDL {ldl} mg/dL ({prior_my}).", "Tolerating statin without myalgias."),
            ("Continue statin; fasting lipid panel before next appointment.",)),
    Problem("Chronic obstructive pulmonary disease", "J44.9",
            (Med("tiotropium", "18 mcg", "inhaled", "daily"), Med("albuterol HFA", "2 puffs", "inhaled", "q4-6h PRN")),
            ("Uses rescue inhaler about {n} times per week.", "Quit smoking in {prior_year}; {n}0 pack-year history."),
            ("Continue maintenance inhaler; spirometry next year.", "Pneumococcal vaccine status reviewed.")),
    Problem("Hypothyroidism", "E03.9", (Med("levothyroxine", "75 mcg", "PO", "daily before breakfast"),),
            ("TSH was {tsh} on {prior}.",), ("Recheck TSH in 6-8 weeks.",)),
    Problem("Gastroesophageal reflux disease", "K21.9",
            (Med("omeprazole", "20 mg", "PO", "daily"), Med("pantoprazole", "40 mg", "PO", "daily")),
            ("Heartburn controlled on PPI; EGD {prior_my} showed mild esophagitis.",),
            ("Continue PPI; avoid late meals.",)),
    Problem("Major depressive disorder, recurrent, mild", "F33.0",
            (Med("sertraline", "50 mg", "PO", "daily"), Med("escitalopram", "10 mg", "PO", "daily")),
            ("PHQ-9 today {n}; mood improved since {prior_my}.",), ("Continue SSRI; counseling referral offered.",)),
    Problem("Primary osteoarthritis of knee", "M17.9",
            (Med("acetaminophen", "650 mg", "PO", "q6h PRN pain"), Med("meloxicam", "7.5 mg", "PO", "daily")),
            ("Knee pain {pain}/10 with stairs; injection on {prior} helped for two months.",),
            ("Home exercise program; consider repeat injection.",)),
    Problem("Chronic kidney disease, stage 3a", "N18.31", (),
            ("Creatinine {cr} with eGFR {egfr} on {prior}.",), ("Avoid NSAIDs; renal panel every 6 months.",)),
    Problem("Paroxysmal atrial fibrillation", "I48.0",
            (Med("apixaban", "5 mg", "PO", "BID"), Med("metoprolol succinate", "50 mg", "PO", "daily")),
            ("No palpitations; Holter monitor {prior_my} showed 4% AF burden.",),
            ("Continue anticoagulation; CHA2DS2-VASc reviewed.",)),
    Problem("Mild persistent asthma", "J45.30",
            (Med("fluticasone HFA", "110 mcg", "inhaled", "2 puffs BID"),),
            ("Night symptoms {n} times per month.",), ("Asthma action plan updated.",)),
    Problem("Obstructive sleep apnea", "G47.33", (),
            ("Uses CPAP most nights; sleep study {prior_my} showed AHI 28.",), ("Continue CPAP nightly.",)),
    Problem("Benign prostatic hyperplasia", "N40.0", (Med("tamsulosin", "0.4 mg", "PO", "daily"),),
            ("Nocturia x{n}; PSA {psa} on {prior}.",), ("Continue tamsulosin.",)),
    Problem("Migraine without aura", "G43.009", (Med("sumatriptan", "50 mg", "PO", "PRN migraine"),),
            ("About {n} migraines per month.",), ("Headache diary; limit triptan use.",)),
    Problem("Vitamin D deficiency", "E55.9", (Med("cholecalciferol", "2000 units", "PO", "daily"),),
            ("25-OH vitamin D {vitd} ng/mL on {prior}.",), ("Continue supplementation.",)),
    Problem("Gout", "M10.9", (Med("allopurinol", "100 mg", "PO", "daily"),),
            ("Last flare {prior_my}; uric acid {ua}.",), ("Continue allopurinol; limit alcohol.",)),
    Problem("Generalized anxiety disorder", "F41.1", (Med("buspirone", "10 mg", "PO", "BID"),),
            ("GAD-7 score {n}.",), ("Continue buspirone; CBT resources provided.",)),
    Problem("Iron deficiency anemia", "D50.9", (Med("ferrous sulfate", "325 mg", "PO", "daily"),),
            ("Hemoglobin {hgb} on {prior}.",), ("Repeat CBC and ferritin in 3 months.",)),
)
EXTRA_MEDS = (Med("aspirin", "81 mg", "PO", "daily"), Med("multivitamin", "1 tab", "PO", "daily"),
              Med("fish oil", "1000 mg", "PO", "daily"), Med("docusate", "100 mg", "PO", "BID PRN"))
ALLERGIES = ("NKDA", "No known drug allergies", "Penicillin (hives)", "Sulfa drugs (rash)",
             "Codeine (nausea)", "Lisinopril (angioedema)", "Latex", "Iodinated contrast (itching)")

ACUTES = (
    Acute("cough", "Acute bronchitis", "J20.9", "{dur} of cough productive of yellow sputum",
          "mild nasal congestion and fatigue", "no hemoptysis or dyspnea at rest",
          "Scattered rhonchi that clear with cough; no focal consolidation.",
          ("Supportive care with fluids and rest.", "Benzonatate 100 mg PO TID PRN cough.",
           "Return precautions for fever or shortness of breath."), "XR CHEST 2 VIEWS"),
    Acute("chest pain", "Chest pain, unspecified", "R07.9",
          "intermittent substernal chest pressure for {dur}, worse with exertion",
          "mild diaphoresis", "no radiation to the arm or jaw, no syncope",
          "Chest wall nontender. Regular rate and rhythm, no murmur.",
          ("ECG reviewed: normal sinus rhythm without acute ST changes.", "Troponin x2 negative.",
           "Outpatient stress test ordered."), "XR CHEST 2 VIEWS"),
    Acute("abdominal pain", "Right lower quadrant abdominal pain", "R10.31",
          "{dur} of crampy right lower quadrant pain, {pain}/10", "nausea and decreased appetite",
          "no hematochezia, no dysuria", "Tenderness in the right lower quadrant without rebound.",
          ("CBC and CMP.", "Clear liquids, advance diet as tolerated.", "Surgical follow-up if worsening."),
          "CT ABDOMEN AND PELVIS WITH CONTRAST"),
    Acute("low back pain", "Strain of muscle of lower back", "S39.012A",
          "low back pain for {dur} after lifting boxes", "stiffness in the morning",
          "no saddle anesthesia, no bowel or bladder changes",
          "Paraspinal tenderness L4-L5; straight leg raise negative bilaterally.",
          ("Cyclobenzaprine 5 mg PO at bedtime PRN.", "Physical therapy referral.", "Heat and gentle stretching."),
          "MRI LUMBAR SPINE WITHOUT CONTRAST"),
    Acute("burning with urination", "Acute cystitis without hematuria", "N30.00",
          "{dur} of dysuria and urinary frequency", "suprapubic discomfort", "no fever, no flank pain",
          "Mild suprapubic tenderness; no CVA tenderness.",
          ("Urinalysis positive for leukocyte esterase.", "Nitrofurantoin 100 mg PO BID x 5 days.",
           "Urine culture sent."), None),
    Acute("dizziness", "Benign paroxysmal positional vertigo", "H81.10",
          "episodes of room-spinning dizziness for {dur} when rolling over in bed", "mild nausea",
          "no focal weakness, no hearing loss", "Dix-Hallpike positive on the right; neuro exam nonfocal.",
          ("Epley maneuver performed in clinic.", "Meclizine 12.5 mg PO TID PRN.", "Vestibular therapy if persistent."),
          "CT HEAD WITHOUT CONTRAST"),
    Acute("sore throat", "Streptococcal pharyngitis", "J02.0", "sore throat and fever to 101.2 F for {dur}",
          "painful swallowing", "no cough, no rash", "Tonsillar exudate with tender anterior cervical nodes.",
          ("Rapid strep positive.", "Amoxicillin 500 mg PO BID x 10 days."), None),
    Acute("knee pain", "Primary osteoarthritis, right knee", "M17.11",
          "right knee pain for {dur}, worse going down stairs", "intermittent swelling", "no locking or giving way",
          "Crepitus with range of motion; small effusion; ligaments stable.",
          ("Weight-bearing knee films.", "Topical diclofenac gel QID.", "Orthopedic referral if no improvement."),
          "XR KNEE 3 VIEWS"),
    Acute("headache", "Tension-type headache", "G44.209", "band-like headache for {dur}",
          "neck tightness and poor sleep", "no visual changes, no weakness, not worst headache of life",
          "Pericranial muscle tenderness; fundi normal; neuro exam nonfocal.",
          ("Ibuprofen 400 mg PO q8h PRN with food.", "Sleep hygiene reviewed."), "CT HEAD WITHOUT CONTRAST"),
    Acute("wrist pain after a fall", "Closed fracture of distal end of right radius", "S52.501A",
          "fell on an outstretched hand {dur} ago", "swelling of the wrist", "no numbness in the fingers",
          "Dorsal wrist swelling and tenderness over the distal radius; neurovascularly intact.",
          ("Sugar-tong splint applied.", "Orthopedics follow-up in 1 week."), "XR WRIST 3 VIEWS"),
    Acute("palpitations", "Palpitations", "R00.2", "episodes of a racing heartbeat for {dur}",
          "lightheadedness with episodes", "no syncope, no chest pain",
          "Regular rate and rhythm at the time of exam; no murmurs.",
          ("ECG: sinus rhythm with occasional PACs.", "TSH and BMP.", "Event monitor ordered."), None),
    Acute("leg redness", "Cellulitis of left lower limb", "L03.116", "redness and warmth of the left shin for {dur}",
          "low-grade fever", "no trauma recalled, no calf pain",
          "Blanching erythema 8 x 10 cm over the left anterior shin; borders marked.",
          ("Cephalexin 500 mg PO QID x 7 days.", "Elevate the leg; recheck in 48 hours."), None),
    Acute("shortness of breath", "Chronic obstructive pulmonary disease with acute exacerbation", "J44.1",
          "worsening shortness of breath and wheeze for {dur}", "increased sputum", "no chest pain",
          "Diffuse expiratory wheezes; speaking in full sentences.",
          ("Prednisone 40 mg PO daily x 5 days.", "Nebulized albuterol given.", "Doxycycline 100 mg PO BID x 5 days."),
          "XR CHEST 2 VIEWS"),
    Acute("fatigue", "Other fatigue", "R53.83", "low energy for {dur}", "afternoon sleepiness",
          "no weight loss, no night sweats", "No pallor, thyroid not enlarged.",
          ("CBC, TSH, CMP, vitamin B12.", "Sleep study if labs unrevealing."), None),
    Acute("ankle injury", "Sprain of right ankle", "S93.401A", "rolled the right ankle {dur} ago",
          "bruising over the lateral ankle", "able to bear weight afterward",
          "Tenderness over the ATFL; no bony tenderness at the malleoli.",
          ("RICE; ankle brace.", "Ottawa rules reviewed."), "XR ANKLE 3 VIEWS"),
)

STUDIES = {s.name: s for s in (
    Study("XR CHEST 2 VIEWS", "Cough, shortness of breath", "PA and lateral views of the chest.",
          ("The lungs are clear. No pleural effusion or pneumothorax.", "Cardiomediastinal silhouette is normal."),
          ("Patchy opacity in the right lower lobe.", "Small right pleural effusion.", "Heart size upper normal."),
          "No acute cardiopulmonary process.", "Right lower lobe opacity compatible with pneumonia."),
    Study("CT ABDOMEN AND PELVIS WITH CONTRAST", "Abdominal pain",
          "Axial images from the diaphragm through the pelvis after 100 mL IV contrast.",
          ("Liver, spleen, pancreas and adrenals are unremarkable.", "No bowel obstruction. Appendix is normal."),
          ("Dilated appendix measuring 11 mm with periappendiceal fat stranding.",
           "Sigmoid diverticula with adjacent inflammatory change."),
          "No acute abdominal or pelvic process.", "Findings consistent with acute inflammation; see details above."),
    Study("MRI LUMBAR SPINE WITHOUT CONTRAST", "Low back pain radiating to the leg",
          "Sagittal and axial T1 and T2 weighted images.",
          ("Vertebral body heights are maintained.", "No significant canal stenosis."),
          ("L4-L5 broad-based disc bulge with mild left foraminal narrowing.", "Facet arthropathy at L5-S1."),
          "No acute abnormality.", "Mild degenerative disc disease L4-L5 with left foraminal narrowing."),
    Study("CT HEAD WITHOUT CONTRAST", "Headache, dizziness", "Axial images from skull base to vertex.",
          ("No intracranial hemorrhage, mass effect or midline shift.", "Ventricles are normal in size."),
          ("Mild chronic small vessel ischemic change.", "Age-appropriate volume loss."),
          "No acute intracranial abnormality.", "No acute findings; chronic microvascular change."),
    Study("XR KNEE 3 VIEWS", "Knee pain", "AP, lateral and sunrise views of the knee.",
          ("No fracture or dislocation.", "Joint spaces are preserved."),
          ("Moderate medial compartment joint space narrowing.", "Marginal osteophytes; small joint effusion."),
          "No acute osseous abnormality.", "Moderate medial compartment osteoarthritis."),
    Study("XR WRIST 3 VIEWS", "Fall on outstretched hand", "PA, oblique and lateral views of the wrist.",
          ("No fracture. Carpal alignment is normal.",),
          ("Nondisplaced transverse fracture of the distal radial metaphysis.", "Soft tissue swelling."),
          "No acute fracture.", "Nondisplaced distal radius fracture."),
    Study("XR ANKLE 3 VIEWS", "Ankle injury", "AP, mortise and lateral views of the ankle.",
          ("No fracture. Ankle mortise is congruent.",), ("Lateral soft tissue swelling without fracture.",),
          "No acute fracture.", "Soft tissue swelling without fracture."),
    Study("US ABDOMEN RIGHT UPPER QUADRANT", "Right upper quadrant pain", "Grayscale and color Doppler images.",
          ("Gallbladder is normal without stones.", "Common bile duct measures 4 mm."),
          ("Multiple gallstones with gallbladder wall thickening to 5 mm.", "Positive sonographic Murphy sign."),
          "Normal right upper quadrant ultrasound.", "Findings compatible with acute calculous cholecystitis."),
    Study("MAMMOGRAM SCREENING BILATERAL", "Screening", "Bilateral CC and MLO views with tomosynthesis.",
          ("Scattered fibroglandular densities. No suspicious mass or calcification.",),
          ("Focal asymmetry in the left upper outer quadrant.",),
          "BI-RADS 1: Negative.", "BI-RADS 0: Incomplete; diagnostic views recommended."),
    Study("DEXA BONE DENSITY", "Osteoporosis screening", "Lumbar spine and bilateral hip DXA.",
          ("Lumbar spine T-score -0.8.", "Total hip T-score -0.6."),
          ("Lumbar spine T-score -2.6.", "Femoral neck T-score -2.1."),
          "Normal bone density.", "Osteoporosis by WHO criteria."),
    Study("CT CHEST WITHOUT CONTRAST", "Lung nodule follow-up", "Low-dose axial images of the chest.",
          ("No pulmonary nodules. No lymphadenopathy.",),
          ("Stable 5 mm right upper lobe nodule.", "Emphysematous change."),
          "No acute intrathoracic process.", "Stable 5 mm nodule; emphysema."),
    Study("XR HIP 2 VIEWS", "Fall with hip pain", "AP pelvis and lateral views of the hip.",
          ("No fracture or dislocation.",), ("Displaced subcapital femoral neck fracture.",),
          "No acute osseous abnormality.", "Displaced femoral neck fracture."),
)}
OUTPATIENT_STUDIES = ("MAMMOGRAM SCREENING BILATERAL", "DEXA BONE DENSITY", "MRI LUMBAR SPINE WITHOUT CONTRAST",
                      "US ABDOMEN RIGHT UPPER QUADRANT", "XR KNEE 3 VIEWS", "CT CHEST WITHOUT CONTRAST",
                      "XR CHEST 2 VIEWS")

PROCS = {p.name: p for p in (
    Proc("Colonoscopy with cold snare polypectomy", "Gastroenterology", "Screening for colon cancer",
         "Average-risk screening; last colonoscopy {prior_my} with one tubular adenoma.", "Monitored anesthesia care",
         "Two 4-6 mm sessile polyps in the ascending colon; sigmoid diverticulosis.",
         ("The scope was advanced to the cecum, identified by the appendiceal orifice.",
          "Bowel preparation was good (BBPS 8).", "The polyps were removed with cold snare and retrieved."),
         "Ascending colon polyps x2"),
    Proc("Esophagogastroduodenoscopy with biopsy", "Gastroenterology", "Dyspepsia",
         "Persistent epigastric pain despite PPI.", "Monitored anesthesia care",
         "Mild antral erythema; normal duodenum.",
         ("The scope was passed under direct vision to the second portion of the duodenum.",
          "Biopsies of the antrum and body were taken for H. pylori."), "Gastric biopsies"),
    Proc("Laparoscopic cholecystectomy", "General Surgery", "Acute calculous cholecystitis",
         "Symptomatic cholelithiasis with ultrasound evidence of cholecystitis.", "General endotracheal",
         "Inflamed, distended gallbladder with multiple stones.",
         ("Pneumoperitoneum was established via a Hasson technique at the umbilicus.",
          "The critical view of safety was obtained before clipping the cystic duct and artery.",
          "The gallbladder was removed in an endocatch bag."), "Gallbladder"),
    Proc("Right knee arthroscopy with partial medial meniscectomy", "Orthopedic Surgery", "Right medial meniscus tear",
         "Mechanical symptoms despite physical therapy; MRI {prior} showed a medial meniscus tear.", "General LMA",
         "Complex tear of the posterior horn of the medial meniscus; grade 2 chondromalacia.",
         ("Standard anterolateral and anteromedial portals were established.",
          "The torn meniscus was debrided to a stable rim with a shaver."), "None"),
    Proc("Phacoemulsification with intraocular lens, left eye", "Ophthalmology", "Nuclear sclerotic cataract, left eye",
         "Glare and reduced acuity interfering with driving.", "Topical with IV sedation",
         "Dense nuclear sclerotic cataract.",
         ("A clear corneal incision was made.",
          "The lens was emulsified and a posterior chamber lens placed in the bag."),
         "None"),
    Proc("Excision of skin lesion, back, 1.2 cm", "Dermatology", "Atypical pigmented lesion of the back",
         "Changing pigmented lesion noted at skin check on {prior}.", "Local, 1% lidocaine with epinephrine",
         "1.2 cm irregular pigmented macule.",
         ("An elliptical excision with 2 mm margins was performed.", "Closed in layers with 4-0 nylon."),
         "Skin ellipse, oriented"),
    Proc("Lumbar epidural steroid injection, L4-L5", "Pain Management", "Lumbar radiculopathy",
         "Radicular leg pain; MRI {prior} showed L4-L5 foraminal narrowing.", "Local",
         "Good epidural spread on fluoroscopy.",
         ("Under fluoroscopic guidance the L4-L5 interlaminar space was entered with loss of resistance.",
          "80 mg methylprednisolone was injected."), "None"),
    Proc("Left heart catheterization with coronary angiography", "Cardiology", "Non-ST elevation myocardial infarction",
         "NSTEMI with rising troponin.", "Moderate sedation",
         "80% stenosis of the mid LAD treated with one drug-eluting stent.",
         ("Right radial access was obtained.", "A 3.0 x 18 mm drug-eluting stent was deployed in the mid LAD."),
         "None"),
    Proc("Open reduction internal fixation, right hip", "Orthopedic Surgery", "Right femoral neck fracture",
         "Displaced femoral neck fracture after a fall.", "Spinal with sedation",
         "Displaced subcapital fracture.", ("The fracture was reduced under fluoroscopy.",
                                            "Fixation was achieved with a sliding hip screw."), "None"),
    Proc("Laparoscopic appendectomy", "General Surgery", "Acute appendicitis",
         "CT-confirmed acute appendicitis.", "General endotracheal", "Inflamed, nonperforated appendix.",
         ("Three laparoscopic ports were placed.", "The mesoappendix was divided and the base stapled."), "Appendix"),
)}
OUTPATIENT_PROCS = ("Colonoscopy with cold snare polypectomy", "Esophagogastroduodenoscopy with biopsy",
                    "Right knee arthroscopy with partial medial meniscectomy",
                    "Phacoemulsification with intraocular lens, left eye", "Excision of skin lesion, back, 1.2 cm",
                    "Lumbar epidural steroid injection, L4-L5")

ADMITS = (
    Admit("Community-acquired pneumonia", "J18.9", "fever and productive cough",
          "{dur} of fever, productive cough and pleuritic chest pain", "IV ceftriaxone and azithromycin",
          ("Blood cultures remained negative.", "Oxygen was weaned to room air.", "Transitioned to oral antibiotics."),
          "Pulmonology", "XR CHEST 2 VIEWS", None,
          (Med("amoxicillin-clavulanate", "875-125 mg", "PO", "BID x 5 days"),)),
    Admit("COPD with acute exacerbation", "J44.1", "shortness of breath", "{dur} of worsening dyspnea and wheeze",
          "nebulized bronchodilators, IV methylprednisolone and doxycycline",
          ("Steroids were tapered to oral prednisone.", "Ambulatory saturation 91% on room air at discharge."),
          None, "XR CHEST 2 VIEWS", None, (Med("prednisone", "40 mg", "PO", "daily x 3 more days"),)),
    Admit("Acute on chronic systolic heart failure", "I50.23", "leg swelling and orthopnea",
          "{dur} of weight gain of 9 lb, orthopnea and leg swelling", "IV furosemide 40 mg BID",
          ("Net negative 4.2 L with diuresis.", "Echocardiogram showed EF 30%.", "GDMT optimized."),
          "Cardiology", "XR CHEST 2 VIEWS", None, (Med("furosemide", "40 mg", "PO", "daily"),
                                                    Med("carvedilol", "6.25 mg", "PO", "BID"))),
    Admit("Non-ST elevation myocardial infarction", "I21.4", "chest pain", "substernal chest pressure for {dur}",
          "heparin infusion, aspirin, high-intensity statin",
          ("Troponin peaked at 4.2 ng/mL.", "Cardiac catheterization with one stent to the mid LAD.",
           "Cardiac rehab referral placed."),
          "Cardiology", None, "Left heart catheterization with coronary angiography",
          (Med("clopidogrel", "75 mg", "PO", "daily"), Med("aspirin", "81 mg", "PO", "daily"))),
    Admit("Cellulitis of left lower limb", "L03.116", "leg redness and fever",
          "{dur} of spreading redness of the left leg",
          "IV cefazolin", ("Erythema receded from the marked borders.", "Afebrile for 48 hours before discharge."),
          None, None, None, (Med("cephalexin", "500 mg", "PO", "QID x 7 days"),)),
    Admit("Acute pyelonephritis with sepsis", "N10", "fever and flank pain",
          "{dur} of fever, rigors and right flank pain",
          "IV fluids and ceftriaxone", ("Urine culture grew pan-sensitive E. coli.", "Lactate normalized."),
          "Infectious Disease", "CT ABDOMEN AND PELVIS WITH CONTRAST", None,
          (Med("ciprofloxacin", "500 mg", "PO", "BID x 10 days"),)),
    Admit("Acute calculous cholecystitis", "K80.00", "right upper quadrant pain",
          "{dur} of right upper quadrant pain after fatty meals with vomiting", "IV piperacillin-tazobactam, NPO",
          ("Underwent laparoscopic cholecystectomy.", "Diet advanced without difficulty."),
          "General Surgery", "US ABDOMEN RIGHT UPPER QUADRANT", "Laparoscopic cholecystectomy",
          (Med("oxycodone", "5 mg", "PO", "q6h PRN x 3 days"),)),
    Admit("Closed fracture of right femoral neck", "S72.001A", "fall with right hip pain",
          "mechanical fall at home {dur} ago with inability to bear weight", "pain control, orthopedic surgery",
          ("ORIF of the right hip.", "PT/OT: discharge to subacute rehab recommended."),
          "Orthopedic Surgery", "XR HIP 2 VIEWS", "Open reduction internal fixation, right hip",
          (Med("enoxaparin", "40 mg", "SC", "daily x 28 days"),)),
    Admit("Acute diverticulitis of sigmoid colon", "K57.32", "left lower quadrant pain",
          "{dur} of left lower quadrant pain and low-grade fever", "bowel rest and IV antibiotics",
          ("Pain resolved; tolerated a low-residue diet.",), None, "CT ABDOMEN AND PELVIS WITH CONTRAST", None,
          (Med("amoxicillin-clavulanate", "875-125 mg", "PO", "BID x 7 days"),)),
    Admit("Upper gastrointestinal hemorrhage", "K92.2", "black stools and lightheadedness", "{dur} of melena",
          "IV pantoprazole infusion and 2 units PRBC",
          ("EGD showed a clean-based duodenal ulcer.", "Hemoglobin stable at 8.9 for 24 hours."),
          "Gastroenterology", None, "Esophagogastroduodenoscopy with biopsy",
          (Med("pantoprazole", "40 mg", "PO", "BID x 8 weeks"),)),
    Admit("Syncope and collapse", "R55", "passing out", "a witnessed syncopal episode {dur} ago",
          "telemetry monitoring and orthostatic evaluation",
          ("Telemetry without arrhythmia.", "Orthostatic hypotension; diuretic held."),
          "Cardiology", "CT HEAD WITHOUT CONTRAST", None, ()),
    Admit("Acute appendicitis", "K35.80", "abdominal pain",
          "{dur} of periumbilical pain migrating to the right lower quadrant",
          "IV antibiotics and surgical consultation", ("Underwent laparoscopic appendectomy.", "Tolerating diet."),
          "General Surgery", "CT ABDOMEN AND PELVIS WITH CONTRAST", "Laparoscopic appendectomy",
          (Med("acetaminophen", "1000 mg", "PO", "q8h PRN"),)),
)

SPECIALTIES = {s.name: s for s in (
    Specialty("Cardiology", "{} Heart & Vascular Institute",
              ("palpitations", "abnormal ECG", "exertional chest discomfort"),
              ("Symptoms most consistent with benign ectopy.", "Low pretest probability of coronary disease."),
              ("Echocardiogram.", "Exercise treadmill test.", "Continue beta-blocker.")),
    Specialty("Gastroenterology", "{} Digestive Health",
              ("dyspepsia", "iron deficiency anemia", "change in bowel habits"),
              ("Likely functional dyspepsia.", "Iron deficiency; GI source must be excluded."),
              ("EGD and colonoscopy.", "Trial of PPI twice daily.", "Celiac serologies.")),
    Specialty("Pulmonology", "{} Lung & Sleep Center", ("chronic cough", "abnormal chest CT", "dyspnea on exertion"),
              ("Cough-variant asthma vs. upper airway cough syndrome.", "Small nodule, low risk."),
              ("Full PFTs.", "Repeat CT in 12 months.", "Trial of inhaled corticosteroid.")),
    Specialty("Endocrinology", "{} Endocrine Associates", ("uncontrolled diabetes", "thyroid nodule"),
              ("Suboptimally controlled type 2 diabetes.", "TI-RADS 3 nodule."),
              ("Start GLP-1 receptor agonist.", "Thyroid ultrasound in 1 year.", "Continuous glucose monitor.")),
    Specialty("Nephrology", "{} Kidney Care", ("rising creatinine", "proteinuria"),
              ("CKD stage 3a, likely hypertensive nephrosclerosis.",),
              ("Renal ultrasound.", "Urine albumin-to-creatinine ratio.", "Avoid nephrotoxins.")),
    Specialty("Orthopedic Surgery", "{} Orthopedic & Sports Medicine", ("knee pain", "hip pain", "shoulder pain"),
              ("Degenerative meniscal tear.", "Moderate osteoarthritis."),
              ("Corticosteroid injection today.", "MRI if mechanical symptoms persist.", "Physical therapy.")),
    Specialty("Neurology", "{} Neurology Associates", ("headaches", "numbness of the feet", "tremor"),
              ("Chronic migraine.", "Length-dependent sensory neuropathy."),
              ("Start topiramate 25 mg nightly.", "EMG/NCS.", "B12 and SPEP.")),
    Specialty("General Surgery", "{} Surgical Associates", ("gallstones", "inguinal hernia"),
              ("Symptomatic cholelithiasis.", "Reducible right inguinal hernia."),
              ("Elective laparoscopic repair discussed.", "Risks and benefits reviewed.")),
    Specialty("Dermatology", "{} Dermatology", ("changing mole", "rash"), ("Atypical nevus.",),
              ("Excisional biopsy.", "Full skin exam annually.")),
    Specialty("Ophthalmology", "{} Eye Institute", ("blurred vision",), ("Visually significant cataract.",),
              ("Cataract surgery scheduled.",)),
    Specialty("Pain Management", "{} Spine & Pain Center", ("chronic low back pain",), ("Lumbar radiculopathy.",),
              ("Epidural steroid injection.",)),
    Specialty("Infectious Disease", "{} Infectious Disease Consultants", ("recurrent infections",),
              ("Gram-negative bacteremia source urinary.",), ("Narrow to oral ciprofloxacin.",)),
)}
CONSULT_SPECIALTIES = ("Cardiology", "Gastroenterology", "Pulmonology", "Endocrinology", "Nephrology",
                       "Orthopedic Surgery", "Neurology", "General Surgery", "Dermatology")

PHONE_REASONS = (
    ("medication refill", "Patient requests a refill of {drug}; last filled {prior}.",
     "Refill sent to preferred pharmacy for 90 days with 1 refill."),
    ("lab results", "Called to review results of labs drawn {prior}.",
     "Results reviewed with patient; all questions answered."),
    ("new symptom", "Patient reports {complaint} since yesterday.",
     "Advised same-day appointment; ED precautions reviewed."),
    ("prior authorization", "Pharmacy requires prior authorization for {drug}.", "PA form completed and faxed."),
    ("medication side effect", "Patient reports mild nausea after starting {drug}.",
     "Advised to take with food; call back if persistent."),
    ("blood pressure log", "Patient called in home BP readings averaging {bp}.", "No change to regimen."),
)
ROS_SYSTEMS = (
    ("Constitutional", "Negative for fever, chills, unexpected weight change."),
    ("Eyes", "Negative for visual disturbance."),
    ("HENT", "Negative for congestion, sore throat, ear pain."),
    ("Respiratory", "Negative for cough, shortness of breath, wheezing."),
    ("Cardiovascular", "Negative for chest pain, palpitations, leg swelling."),
    ("Gastrointestinal", "Negative for abdominal pain, nausea, vomiting, blood in stool."),
    ("Genitourinary", "Negative for dysuria, hematuria, frequency."),
    ("Musculoskeletal", "Negative for joint swelling, back pain."),
    ("Skin", "Negative for rash, wound."),
    ("Neurological", "Negative for dizziness, weakness, numbness, headaches."),
    ("Psychiatric", "Negative for depressed mood, suicidal ideation."),
)
EXAM_SYSTEMS = (
    ("General", "Well-appearing, in no acute distress."),
    ("HEENT", "Normocephalic, atraumatic. Oropharynx clear. Moist mucous membranes."),
    ("Neck", "Supple, no lymphadenopathy, no JVD."),
    ("Cardiovascular", "Regular rate and rhythm. No murmurs, rubs or gallops."),
    ("Lungs", "Clear to auscultation bilaterally. No wheezes or crackles."),
    ("Abdomen", "Soft, nontender, nondistended. Normal bowel sounds."),
    ("Extremities", "No edema. Pulses 2+ and symmetric."),
    ("Skin", "Warm and dry. No rash."),
    ("Neuro", "Alert and oriented x3. Cranial nerves II-XII intact. Strength 5/5 throughout."),
    ("Psych", "Normal mood and affect."),
)
NURSING_SYSTEMS = (
    ("Neuro", ("A&O x4, follows commands, PERRLA.", "Alert, oriented x3, mildly drowsy after pain medication.")),
    ("Cardiac", ("NSR on telemetry, rate 70s-80s.", "Sinus rhythm, capillary refill < 3 seconds.")),
    ("Resp", ("Lungs diminished at bases, on 2 L NC, SpO2 95%.", "Room air, SpO2 96%, no distress.")),
    ("GI", ("Abdomen soft, tolerating diet, last BM today.", "NPO after midnight, bowel sounds present.")),
    ("GU", ("Voiding without difficulty, clear yellow urine.", "Foley in place draining amber urine.")),
    ("Skin", ("Intact; Braden score 17.", "Surgical dressing clean, dry and intact.")),
    ("Pain", ("Rates pain {pain}/10; PRN given with relief.", "Denies pain at this time.")),
    ("Safety", ("Bed in low position, call light in reach, fall precautions.", "Bed alarm on; non-skid socks.")),
    ("Psychosocial", ("Family at bedside, updated on plan of care.", "Calm and cooperative.")),
)
EDUCATION = (
    "Discussed the importance of medication adherence and bringing all pill bottles to each appointment.",
    "Reviewed warning signs that should prompt a call to the clinic or a visit to the emergency department.",
    "Encouraged at least 150 minutes per week of moderate activity as tolerated.",
    "Reviewed a heart-healthy diet low in sodium and saturated fat.",
    "Patient verbalized understanding of the plan and agrees with it.",
    "Printed after-visit summary provided with medication changes highlighted.",
    "Advised to check blood pressure at home twice daily and keep a log.",
    "Discussed vaccine schedule; influenza vaccine recommended each fall.",
    "Fall prevention at home reviewed, including removing loose rugs and using night lights.",
    "Smoking cessation counseling provided; patient is not currently using tobacco.",
    "Advance care planning discussed; patient will bring a copy of the health care proxy.",
    "More than half of the visit was spent in counseling and coordination of care.",
)
SOCIAL = (
    "Lives with spouse. Retired teacher. Never smoker. Drinks 1-2 glasses of wine per week.",
    "Lives alone in a second-floor apartment. Former smoker, quit {prior_year}. No alcohol.",
    "Works as a warehouse supervisor. Married, two adult children. Denies tobacco or drug use.",
    "Widowed, lives with daughter. Former smoker (20 pack-years). Occasional alcohol.",
    "Works in accounting. Exercises 3 times per week. No tobacco.",
)
FAMILY = (
    "Mother with type 2 diabetes; father deceased of myocardial infarction at 66.",
    "Sister with breast cancer at 52. No family history of colon cancer.",
    "Noncontributory.",
    "Father with hypertension and stroke; brother with hyperlipidemia.",
)
SURGICAL_HISTORY = ("Appendectomy {prior_year}", "Cholecystectomy {prior_year}", "Right knee arthroscopy {prior_year}",
                    "Tonsillectomy in childhood", "C-section {prior_year}", "Inguinal hernia repair {prior_year}")
LAB_PANELS = (
    ("COMPLETE BLOOD COUNT", (("WBC", "K/uL", 4.0, 11.0, 1), ("HGB", "g/dL", 12.0, 16.0, 1),
                              ("HCT", "%", 36.0, 46.0, 1),
                              ("PLT", "K/uL", 150.0, 400.0, 0), ("MCV", "fL", 80.0, 100.0, 0))),
    ("BASIC METABOLIC PANEL", (("SODIUM", "mmol/L", 135.0, 145.0, 0), ("POTASSIUM", "mmol/L", 3.5, 5.1, 1),
                               ("CHLORIDE", "mmol/L", 98.0, 107.0, 0), ("CO2", "mmol/L", 22.0, 29.0, 0),
                               ("BUN", "mg/dL", 7.0, 20.0, 0), ("CREATININE", "mg/dL", 0.6, 1.2, 2),
                               ("GLUCOSE", "mg/dL", 70.0, 99.0, 0), ("CALCIUM", "mg/dL", 8.5, 10.5, 1))),
    ("LIPID PANEL", (("CHOLESTEROL", "mg/dL", 100.0, 199.0, 0), ("TRIGLYCERIDES", "mg/dL", 40.0, 149.0, 0),
                     ("HDL", "mg/dL", 40.0, 80.0, 0), ("LDL CALC", "mg/dL", 40.0, 99.0, 0))),
    ("HEPATIC FUNCTION PANEL", (("AST", "U/L", 10.0, 40.0, 0), ("ALT", "U/L", 7.0, 56.0, 0),
                                ("ALK PHOS", "U/L", 44.0, 147.0, 0), ("BILIRUBIN TOTAL", "mg/dL", 0.1, 1.2, 1),
                                ("ALBUMIN", "g/dL", 3.5, 5.0, 1))),
    ("HEMOGLOBIN A1C", (("HEMOGLOBIN A1C", "%", 4.0, 5.6, 1),)),
    ("THYROID STIMULATING HORMONE", (("TSH", "mIU/L", 0.4, 4.5, 2),)),
    ("URINALYSIS", (("SPECIFIC GRAVITY", "", 1.005, 1.030, 3), ("PH", "", 5.0, 8.0, 1),
                    ("WBC UA", "/hpf", 0.0, 5.0, 0), ("RBC UA", "/hpf", 0.0, 3.0, 0))),
)
DURATIONS = ("2 days", "3 days", "4 days", "1 week", "10 days", "2 weeks", "3 weeks", "1 month", "several months")
NURSE_FIRST = ("Kim", "Dana", "Marcus", "Leah", "Tasha", "Brian", "Noor", "Elena", "Joel", "Shay")
TELE_CONSENT = (
    "This encounter was conducted via secure two-way video; the patient consented to telehealth care.",
    "Audio-video telemedicine encounter. Patient located at home; identity verified with two identifiers.",
    "Seen remotely due to patient preference; limitations of a remote exam were discussed.",
)
PRIOR_MENTIONS = (
    "MRI on {prior} showed mild degenerative change.", "Last colonoscopy {prior_my}, normal.",
    "Seen by cardiology in {prior_year}; stress test at that time was negative.",
    "Echocardiogram {prior} showed normal LV function.", "Labs from {prior} reviewed.",
    "Previously treated for a similar episode in {prior_my}.", "Last tetanus booster {prior_year}.",
)
FALSE_CUES = (
    "Patient was last seen on {d} for {why}.", "Last visit: {d} ({why}).",
    "Seen in clinic on {d} for {why}; see that note for details.", "Date of last visit: {d}",
    "Previously evaluated on {d} for {why}.", "Records from {d} ({why}) were reviewed today.",
)
HOSPITAL_COURSE = (
    "Physical therapy evaluated the patient and cleared for discharge home.",
    "Home medications were resumed once tolerating oral intake.",
    "Electrolytes were repleted as needed.", "Glucose was managed with sliding-scale insulin.",
    "Case management arranged follow-up and transportation.",
    "The patient remained hemodynamically stable throughout the stay.",
    "Pain was controlled with oral analgesics by the day of discharge.",
    "Telemetry showed no significant arrhythmias.",
)
OP_NARRATIVE = (
    "The patient was identified in the preoperative area and the consent was verified.",
    "A time-out was performed confirming patient, procedure, laterality and site.",
    "The patient was positioned supine with all pressure points padded.",
    "Sequential compression devices were placed on both lower extremities.",
    "Prophylactic antibiotics were given within 60 minutes of incision.",
    "The area was prepped and draped in the usual sterile fashion.", "Hemostasis was confirmed.",
    "All sponge, needle and instrument counts were correct at the end of the case.",
    "Local anesthetic was infiltrated at the incision sites.", "The skin was closed with absorbable suture.",
    "Sterile dressings were applied.", "The patient tolerated the procedure well without complication.",
    "The patient was transferred to recovery in stable condition.",
    "Findings and postoperative instructions were discussed with the family.",
)
INTERVAL_EVENTS = (
    "seen in urgent care for sinusitis, treated with amoxicillin", "flu vaccine administered",
    "medication dose adjusted by cardiology", "physical therapy completed with good response",
    "normal screening colonoscopy", "labs notable for mild anemia", "dental extraction without complication",
    "emergency department evaluation after a fall, no injury", "sleep study ordered", "eye exam without retinopathy",
    "started on a statin", "shingles vaccine dose 1 given", "podiatry visit for nail care", "home health discontinued",
    "dermatology removed a benign seborrheic keratosis", "audiology fitted hearing aids", "PT for shoulder pain",
    "blood pressure medication reduced for dizziness", "screening mammogram negative", "TSH normal on recheck",
)
ED_REASSESSMENTS = (
    "Reassessed: pain improved after medication.", "Repeat vitals within normal limits.",
    "Tolerating oral fluids.", "Ambulating without difficulty.", "Results discussed with patient and family.",
    "Case discussed with on-call specialist by phone.",
)
NURSING_EVENTS = (
    "Rounded on patient; resting comfortably.", "PRN analgesic given for pain 5/10.",
    "Assisted to bathroom; tolerated well.", "IV site checked, no redness.", "Vital signs stable.",
    "Turned and repositioned.", "Family updated at bedside.", "Blood glucose 142; no coverage needed.",
    "Ambulated in hallway with standby assist.", "Incentive spirometer use encouraged.",
)
SEPARATORS = ("_" * 60, "-" * 48, "* * *", "=" * 40, "-" * 72, "_" * 32)

# --------------------------------------------------------------------------------------------
# Printed segments, lines and the chart model
# --------------------------------------------------------------------------------------------

class _Fixed(str):
    """Printed text that OCR noise and mid-line page splits never touch."""


class _Field(_Fixed):
    """A printed gold field: `name` is date|type|provider|facility, `value` its gold value."""

    name: str
    value: str

    def __new__(cls, printed: str, name: str, value: str) -> _Field:
        obj = super().__new__(cls, printed)
        obj.name, obj.value = name, value
        return obj


@dataclass
class _Line:
    """One output line as segments (plain str, _Fixed or _Field), tagged with its encounter."""

    segs: list[str]
    kind: str = "body"  # header|sub|section|body|sig|blank|gap|cover|page
    enc: int = 0
    first: bool = False

    @property
    def text(self) -> str:
        return "".join(self.segs)


def _ln(*parts: str, kind: str = "body") -> _Line:
    return _Line([p for p in parts if p], kind)


def _blank(n: int = 1) -> list[_Line]:
    return [_Line([], "blank") for _ in range(n)]


def _size(lines: list[_Line]) -> int:
    return sum(len(line.text) + 1 for line in lines)


@dataclass
class _Block:
    """A rendered encounter: header lines, notes (each ending with its separator) and tail gap;
    `idx` is its chronological position, `family` the id of the family that printed its header."""

    idx: int
    family: str | None
    header: list[_Line]
    notes: list[list[_Line]]
    tail: list[_Line]


@dataclass
class _Patient:
    first: str
    middle: str
    last: str
    female: bool
    dob: date
    mrn: str


@dataclass
class _Encounter:
    cat: str
    start: date
    end: date
    type: str
    provider: str
    facility: str
    problems: tuple[Problem, ...]
    meds: tuple[Med, ...]
    n_notes: int = 1
    acute: Acute | None = None
    admit: Admit | None = None
    study: Study | None = None
    abnormal: bool = False
    proc: Proc | None = None
    specialty: Specialty | None = None
    phone: tuple[str, str, str] | None = None
    panels: tuple[tuple, ...] = ()


class _Cast:
    """The record's invented providers, nurses and facilities, with unique names."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._used: list[str] = []
        self._places = rng.sample(PLACE_NAMES, len(PLACE_NAMES))
        self.pcp = self.person(("MD", "DO", "MD"))
        self.np = self.person(("NP", "PA-C", "FNP-C"))
        self.ed_docs = [self.person(("MD", "DO")) for _ in range(2)]
        self.hospitalists = [self.person(("MD", "DO", "MD")) for _ in range(3)]
        self.radiologists = [self.person(("MD",)) for _ in range(2)]
        self.nurses = [self.nurse() for _ in range(5)]
        self.lab_tech = f"{rng.choice(NURSE_FIRST)} {self.surname()}, MLS(ASCP)"
        self.clinic = self.place(CLINIC_KINDS)
        self.hospital = self.place(HOSPITAL_KINDS)
        self.imaging = self.place(IMAGING_KINDS) if rng.random() < 0.6 else self.hospital
        self.lab = self.place(LAB_KINDS) if rng.random() < 0.7 else self.clinic
        self.asc = self.place(ASC_KINDS) if rng.random() < 0.6 else self.hospital
        self._specialists: dict[str, tuple[str, str]] = {}

    def surname(self) -> str:
        """A last name not yet used in this record."""
        name = self.rng.choice([n for n in LAST_NAMES if n not in self._used])
        self._used.append(name)
        return name

    def person(self, creds: tuple[str, ...]) -> str:
        rng = self.rng
        first = rng.choice(FIRST_NAMES_F + FIRST_NAMES_M)
        middle = f" {rng.choice('ABCDEFGHJKLMNPRSTW')}." if rng.random() < 0.6 else ""
        return f"{first}{middle} {self.surname()}, {rng.choice(creds)}"

    def nurse(self) -> str:
        return f"{self.rng.choice(NURSE_FIRST)} {self.surname()}, {self.rng.choice(('RN', 'RN', 'LPN', 'BSN, RN'))}"

    def place(self, kinds: tuple[str, ...]) -> str:
        return self.rng.choice(kinds).format(self._places.pop())

    def specialist(self, name: str) -> tuple[str, str]:
        """(provider, clinic) for a specialty, created on first use."""
        if name not in self._specialists:
            clinic = SPECIALTIES[name].clinic.format(self._places.pop())
            self._specialists[name] = (self.person(("MD", "DO", "MD, FACS" if "Surg" in name else "MD")), clinic)
        return self._specialists[name]


@dataclass
class _Chart:
    patient: _Patient
    cast: _Cast
    encounters: list[_Encounter]
    budgets: list[int]
    print_date: date


def _age(dob: date, on: date) -> int:
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


def _prior(rng: random.Random, before: date) -> date:
    return before - timedelta(days=rng.randint(30, 2500))


# --------------------------------------------------------------------------------------------
# Chart building (what happened to the patient)
# --------------------------------------------------------------------------------------------

def _build_chart(rng: random.Random, size_hint: str) -> _Chart:
    (lo, hi), (n_lo, n_hi) = SIZES[size_hint]
    female = rng.random() < 0.55
    first = rng.choice(FIRST_NAMES_F if female else FIRST_NAMES_M)
    start = date(2008, 1, 1) + timedelta(days=rng.randint(0, 365 * 9))
    dob = start - timedelta(days=rng.randint(25 * 365, 88 * 365))
    cast = _Cast(rng)
    patient = _Patient(first, rng.choice("ABCDEFGHJKLMNPRSTW"), cast.surname(), female, dob,
                       f"{rng.randint(10 ** 5, 10 ** 8 - 1):08d}")
    n = rng.randint(n_lo, n_hi)
    cats = rng.choices([c for c, _ in CATEGORY_WEIGHTS], [w for _, w in CATEGORY_WEIGHTS], k=n)
    if "inpatient" not in cats:
        cats[rng.randrange(n)] = "inpatient"
    types = {cat: rng.sample(names, 2) for cat, names in TYPE_NAMES.items()}
    problems = rng.sample(CHRONIC, rng.randint(2, 5))
    meds = [p.meds[0] for p in problems if p.meds] + rng.sample(EXTRA_MEDS, rng.randint(0, 2))
    max_notes = {"small": 4, "medium": 10, "large": 15}[size_hint]
    encounters, day = [], start
    for cat in cats:
        enc = _make_encounter(rng, cast, cat, day, tuple(problems), tuple(meds), max_notes)
        enc.type = types[cat][0] if rng.random() < 0.75 else types[cat][1]
        encounters.append(enc)
        if rng.random() < 0.12 and len(problems) < len(CHRONIC):
            new = rng.choice([p for p in CHRONIC if p not in problems])
            problems.append(new)
            meds.extend(new.meds[:1])
        day = enc.end + timedelta(days=int(rng.triangular(1, 200, 25)))
    weights = [CATEGORY_BUDGET[e.cat] * e.n_notes for e in encounters]
    target = rng.randint(lo, hi)
    budgets = [int(target * w / sum(weights)) for w in weights]
    return _Chart(patient, cast, encounters, budgets, encounters[-1].end + timedelta(days=rng.randint(3, 90)))


def _make_encounter(rng: random.Random, cast: _Cast, cat: str, start: date, problems: tuple[Problem, ...],
                    meds: tuple[Med, ...], max_notes: int) -> _Encounter:
    """Who, where and what for one encounter; `type` is filled by the caller."""
    clinician = cast.pcp if rng.random() < 0.75 else cast.np
    enc = _Encounter(cat, start, start, "", clinician, cast.clinic, problems, meds)
    if cat in ("office", "telehealth"):
        enc.acute = rng.choice(ACUTES) if rng.random() < 0.55 else None
        enc.n_notes = 1 + (rng.random() < 0.25)
    elif cat == "phone":
        enc.phone = rng.choice(PHONE_REASONS)
    elif cat == "ed":
        enc.provider, enc.facility, enc.acute = rng.choice(cast.ed_docs), cast.hospital, rng.choice(ACUTES)
        enc.n_notes = rng.choice((1, 2, 2, 3)) if enc.acute.study else rng.choice((1, 2))
    elif cat == "imaging":
        enc.facility, enc.study = cast.imaging, STUDIES[rng.choice(OUTPATIENT_STUDIES)]
        enc.abnormal = rng.random() < 0.4
    elif cat == "lab":
        enc.facility, enc.panels = cast.lab, tuple(rng.sample(LAB_PANELS, rng.randint(1, 4)))
    elif cat == "procedure":
        enc.proc = PROCS[rng.choice(OUTPATIENT_PROCS)]
        enc.provider, enc.facility = cast.specialist(enc.proc.specialty)[0], cast.asc
        enc.n_notes = rng.choice((1, 2, 2, 3))
    elif cat == "consult":
        enc.specialty = SPECIALTIES[rng.choice(CONSULT_SPECIALTIES)]
        enc.provider, enc.facility = cast.specialist(enc.specialty.name)
    else:  # inpatient
        enc.admit = rng.choice(ADMITS)
        enc.provider, enc.facility = rng.choice(cast.hospitalists), cast.hospital
        los = rng.choices((1, 2, 3, 4, 5, 6, 7, 9), (14, 24, 20, 14, 10, 7, 6, 5))[0]
        if max_notes <= 4:
            los = min(los, 3)
        enc.end = start + timedelta(days=los)
        enc.n_notes = min(max_notes, max(3, rng.randint(3 + los // 2, 4 + 2 * los)))
    return enc


# --------------------------------------------------------------------------------------------
# Rendering style and context
# --------------------------------------------------------------------------------------------

# header format -> allowed date styles; "admission"/"exam" only for their categories
FORMAT_DATES = {
    "dos_block": ("mdy", "mdy_short", "long", "dmon"), "visit_line": ("mdy", "mdy_short", "dmon"),
    "encounter_line": ("iso", "mdy", "abbr"), "star_banner": ("dmon", "mdy", "dmy"), "fax": ("mdy", "mdy_short"),
    "pipe": ("mdy", "iso", "compact"), "prose": ("long", "abbr", "mdy"), "equals": ("mdy", "iso", "dmy"),
    "enc_pipe": ("compact",), "date_clinic": ("mdy", "dmon", "mdy_short"), "dept": ("mdy", "iso"),
    "visit_with": ("long", "abbr", "mdy"), "title_first": ("mdy", "abbr", "dmy"), "title_date": ("dmy", "abbr", "iso"),
    "letterhead": ("mdy", "long"), "admission": ("mdy", "dmon", "long"), "exam": ("mdy", "iso", "dmon"),
}
SPECIAL_FORMATS = {"admission": ("inpatient",), "exam": ("imaging", "lab")}  # only for these categories
# Legacy note sub-headers and signatures, as templates (see synth_families.fill); a legacy record uses 2 / 3.
LEGACY_SUB_STYLES = (
    "{date} {time}  {TITLE}  Author: {author}", "{title} | {date} {time} | {author}",
    "NOTE TYPE: {title}\nDATE/TIME: {date} {time}\nAUTHOR: {author}", "[{date} {time}] {title} - {author}",
    "{title} ({date} {time}) by {author}", "{TITLE}\nDate: {date}  Time: {time}",
    "{type} - {title} - {date} {time} - {author}",
)
LEGACY_SIGNATURES = (
    "Electronically signed by {author} on {date} at {time}", "Signed: {author} {date}",
    "Dictated by: {author}\nD: {date} {time}  T: {date2} {time2}",
    "This document has been electronically signed by {author}.", "{author}\nElectronically authenticated {date} {time}",
    "Reviewed and electronically signed by {author} {date} {time}",
)
LEGACY_PAGE_HEADS = ("{LAST}, {FIRST} {mi} | MRN: {mrn} | DOB: {dob}",
                     "Patient: {first} {last}    MRN: {mrn}    DOB: {dob}", "{last}, {first} (MRN {mrn}) DOB {dob}")
LEGACY_PAGE_FOOTERS = (("Page {k} of {m}",), ("Printed on {printed} {at}", "Page {k} of {m}"),
                       ("Printed on {printed} {at} by ROI_USER    Page {k} of {m}",),
                       ("{last}, {first} - MRN {mrn}", "Page {k}/{m}"))
LEGACY_FAX = "{printed} {at} FROM: {vendor} FAX {phone}   P.{k:03d}/{m:03d}"
LEGACY_FURNITURE = tuple(Furniture(((LEGACY_FAX,) if fax else ()) + (head,), footers, style)
                         for head, footers, fax, style in product(LEGACY_PAGE_HEADS, LEGACY_PAGE_FOOTERS, (False, True),
                                                                  ("mdy", "iso", "mdy_short")))
LEGACY_GROUP = 6
FAMILIES: tuple[Family, ...] = GRAMMAR_FAMILIES + tuple(
    Family(id=f"L-{name}", group=LEGACY_GROUP, layout="legacy", variant=name, sub_styles=LEGACY_SUB_STYLES,
           sig_styles=LEGACY_SIGNATURES, furniture=LEGACY_FURNITURE, categories=SPECIAL_FORMATS.get(name, ()))
    for name in FORMAT_DATES)
FAMILY_BY_ID = {f.id: f for f in FAMILIES}
GROUPS = {**GROUP_NAMES, LEGACY_GROUP: "legacy formats"}
DISPOSITIONS = ("Home", "Home with services", "Subacute rehab")
MED_LABELS = ("Medications", "Current Medications", "Outpatient Medications")
MED_STYLES = ("dash", "num", "caps", "table", "sig")
LAB_STYLES = ("fixed", "pipe", "colon")
PAYERS = ("Medicare", "Medicaid", "Commercial PPO", "Commercial HMO", "Self-pay", "Workers Comp", "Medicare Advantage")
UNITS = {"inpatient": ("4W", "5 East", "MedSurg 3", "Tele 6", "ICU 2", "Obs"), "ed": ("ED", "ED FT")}
OUTPATIENT_UNITS = ("OP", "AMB", "CLIN")


@dataclass
class _Style:
    """Record-level rendering choices (one record = one export mixing a few source systems)."""

    families: list[Family | None]  # per encounter (chronological): the family printing its header
    primary: Family
    used: tuple[str, ...]  # ids: the primary, then the others in chronological order of first use
    date_styles: dict[str, str]  # legacy format -> date style
    upper_labels: dict[str, bool]  # legacy format -> upper-case labels
    body_date: str
    sub_date: str
    sig_date: str
    time_style: str
    sub_styles: tuple[str, ...]
    sig_styles: tuple[str, ...]
    sig_rate: float
    upper: float
    inline: float
    width: int | None
    med_style: str
    lab_style: str


def _draw_style(rng: random.Random, chart: _Chart, allowed: tuple[Family, ...]) -> _Style:
    """A primary family for most headed encounters and 0-2 secondaries; legacy records also use the
    admission/exam formats for their categories. Notes, signatures and furniture follow the primary."""
    n = len(chart.encounters)
    generic = [f for f in allowed if not f.categories]
    primary = rng.choice(generic)
    others = [f for f in generic if f is not primary]
    secondary = rng.sample(others, min(len(others), rng.choice((0, 1, 1, 2))))
    legacy = primary.layout == "legacy"
    families: list[Family | None] = [None] * n
    headless = rng.sample(range(n), max(1, min(n // 4, math.ceil(rng.uniform(0.05, 0.25) * n))))
    rest = []
    for i, enc in enumerate(chart.encounters):
        special = [f for f in allowed if enc.cat in f.categories] if legacy else []
        if i in headless:
            continue
        if special and rng.random() < 0.3:
            families[i] = rng.choice(special)
        else:
            rest.append(i)
    primary_ids = rng.sample(rest, round(rng.uniform(0.68, 1.0) * len(rest)))
    for i in rest:
        families[i] = primary if i in primary_ids or not secondary else rng.choice(secondary)
    used = dict.fromkeys([primary.id] + [f.id for f in families if f])
    return _Style(
        families=families,
        primary=primary,
        used=tuple(used),
        date_styles={f: rng.choice(styles) for f, styles in FORMAT_DATES.items()},
        upper_labels={f: rng.random() < 0.6 for f in FORMAT_DATES},
        body_date=rng.choices(("mdy", "mdy_short", "iso", "dmon"), (60, 25, 8, 7))[0],
        sub_date=rng.choice(("mdy", "mdy", "iso", "mdy_short", "dmon")) if legacy else primary.note_date,
        sig_date=rng.choice(("mdy", "mdy", "mdy_short", "abbr")) if legacy else primary.note_date,
        time_style=rng.choice(("24", "24c", "12")) if legacy else primary.time_style,
        sub_styles=tuple(rng.sample(primary.sub_styles, 2)),
        sig_styles=tuple(rng.sample(primary.sig_styles, min(3, len(primary.sig_styles)))),
        sig_rate=rng.uniform(0.45, 0.8),
        upper=rng.choice((0.15, 0.5, 0.85)),
        inline=rng.uniform(0.3, 0.8),
        width=rng.choice((None, None, 72, 80, 96)),
        med_style=rng.choice(MED_STYLES),
        lab_style=rng.choice(LAB_STYLES),
    )


@dataclass
class _Ctx:
    """Everything a renderer needs for the current encounter; field helpers tag gold fields."""

    rng: random.Random
    chart: _Chart
    style: _Style
    idx: int

    @property
    def enc(self) -> _Encounter:
        return self.chart.encounters[self.idx]

    @property
    def family(self) -> Family | None:
        return self.style.families[self.idx]

    @property
    def fmt(self) -> str:
        """The legacy format printing this encounter's header."""
        return self.family.variant

    def date(self, d: date, style: str | None = None, at: tuple[int, int] = (0, 0)) -> str:
        printed = fmt_date(d, style or self.style.body_date, at)
        return _Field(printed, "date", d.isoformat()) if d == self.enc.start else _Fixed(printed)

    def hdate(self) -> str:
        return self.date(self.enc.start, self.style.date_styles[self.fmt])

    def person(self, who: str, upper: bool = False) -> str:
        printed = who.upper() if upper else who
        return _Field(printed, "provider", who) if who == self.enc.provider else _Fixed(printed)

    def place(self, where: str, upper: bool = False) -> str:
        printed = where.upper() if upper else where
        return _Field(printed, "facility", where) if where == self.enc.facility else _Fixed(printed)

    def kind(self, upper: bool = False) -> str:
        return _Field(self.enc.type.upper() if upper else self.enc.type, "type", self.enc.type)

    def label(self, text: str) -> str:
        return text.upper() if self.style.upper_labels[self.fmt] else text

    def time(self, lo: int = 8, hi: int = 17) -> str:
        return self.clock(self.rng.randint(lo, hi))

    def clock(self, h: int) -> str:
        return fmt_time(h, self.rng.randrange(60), self.style.time_style)


def _phone_number(rng: random.Random) -> str:
    return f"(555) 01{rng.randint(0, 9)}-{rng.randint(1000, 9999)}"


# --------------------------------------------------------------------------------------------
# Encounter header formats
# --------------------------------------------------------------------------------------------

def _h_dos_block(c: _Ctx) -> list[_Line]:
    e, L = c.enc, c.label
    lines = [_ln(L("Date of Service: "), c.hdate()), _ln(L("Provider: "), c.person(e.provider))]
    if c.rng.random() < 0.8:
        lines.append(_ln(L("Location: "), c.place(e.facility)))
    if c.rng.random() < 0.7:
        lines.append(_ln(L("Visit Type: "), c.kind()))
    return lines


def _h_visit_line(c: _Ctx) -> list[_Line]:
    e = c.enc
    lines = [_ln("VISIT DATE: ", c.hdate(), "    PROVIDER: ", c.person(e.provider))]
    if c.rng.random() < 0.5:
        lines.append(_ln("VISIT TYPE: ", c.kind(), "    DEPT: ", c.place(e.facility)))
    return lines


def _h_encounter_line(c: _Ctx) -> list[_Line]:
    e = c.enc
    return [_ln("Encounter: ", c.kind(), "  Provider: ", c.person(e.provider), "  Location: ", c.place(e.facility),
                "  Date: ", c.hdate())]


def _h_star_banner(c: _Ctx) -> list[_Line]:
    e = c.enc
    return [_ln("** ", c.kind(upper=True), " **"), _ln("Date: ", c.hdate()),
            _ln("Attending: ", c.person(e.provider)), _ln("Facility: ", c.place(e.facility))]


def _h_fax(c: _Ctx) -> list[_Line]:
    e, rng = c.enc, c.rng
    lines = [_ln("FACSIMILE TRANSMITTAL")] if rng.random() < 0.3 else []
    lines.append(_ln("FAX From: ", c.place(e.facility), f"   Fax: {_phone_number(rng)}   RE: ", c.kind(), " DOS ",
                     c.hdate()))
    if rng.random() < 0.5:
        lines.append(_ln(f"To: Health Information Management   Pages: {rng.randint(2, 12)}"))
    return lines


def _h_pipe(c: _Ctx) -> list[_Line]:
    e = c.enc
    return [_ln(c.hdate(), " | ", c.kind(), " | ", c.person(e.provider), " | ", c.place(e.facility))]


def _h_prose(c: _Ctx) -> list[_Line]:
    e = c.enc
    return [_ln("Patient seen on ", c.hdate(), " at ", c.place(e.facility), " by ", c.person(e.provider), ".")]


def _h_equals(c: _Ctx) -> list[_Line]:
    e, bar = c.enc, "=" * c.rng.choice((40, 50, 60))
    lines = [_ln(bar), _ln("ENCOUNTER ", c.hdate(), " (", c.kind(), ")"), _ln(bar)]
    if c.rng.random() < 0.5:
        lines.append(_ln("Provider: ", c.person(e.provider)))
    return lines


def _h_enc_pipe(c: _Ctx) -> list[_Line]:
    e = c.enc
    lines = [_ln("ENC|", c.hdate(), "|", c.kind(), "|", c.place(e.facility), "|")]
    if c.rng.random() < 0.5:
        lines.append(_ln("PRV|", c.person(e.provider), "|"))
    return lines


def _h_date_clinic(c: _Ctx) -> list[_Line]:
    e, L = c.enc, c.label
    return [_ln(L("Date: "), c.hdate(), L("    Clinic: "), c.place(e.facility)),
            _ln(L("Physician: "), c.person(e.provider))]


def _h_admission(c: _Ctx) -> list[_Line]:
    e, L = c.enc, c.label
    lines = [_ln(L("Admission Date: "), c.hdate(), L("    Discharge Date: "),
                 c.date(e.end, c.style.date_styles["admission"])),
             _ln(L("Attending Physician: "), c.person(e.provider))]
    if c.rng.random() < 0.7:
        lines.append(_ln(L("Hospital: "), c.place(e.facility)))
    if c.rng.random() < 0.5:
        lines.append(_ln(L("Encounter Type: "), c.kind()))
    return lines


def _h_exam(c: _Ctx) -> list[_Line]:
    e, L = c.enc, c.label
    what = "Exam Date: " if e.cat == "imaging" else "Collection Date: "
    return [_ln(L(what), c.hdate(), L("    Ordering Physician: "), c.person(e.provider)),
            _ln(L("Performing Site: "), c.place(e.facility))]


def _h_dept(c: _Ctx) -> list[_Line]:
    e = c.enc
    return [_ln("Encounter Date: ", c.hdate(), "    Department: ", c.place(e.facility)),
            _ln("Provider: ", c.person(e.provider), "    Encounter Type: ", c.kind())]


def _h_visit_with(c: _Ctx) -> list[_Line]:
    e = c.enc
    return [_ln("Visit: ", c.kind(), " on ", c.hdate(), " with ", c.person(e.provider), " at ", c.place(e.facility))]


def _h_title_first(c: _Ctx) -> list[_Line]:
    e = c.enc
    lines = [_ln(c.kind(upper=c.rng.random() < 0.5)), _ln("Date: ", c.hdate())]
    if c.rng.random() < 0.7:
        lines.append(_ln("Seen by: ", c.person(e.provider)))
    return lines


def _h_title_date(c: _Ctx) -> list[_Line]:
    e = c.enc
    if c.rng.random() < 0.5:
        return [_ln(c.kind(), " - ", c.place(e.facility), " - ", c.hdate())]
    return [_ln(c.kind(), " - ", c.hdate()), _ln(c.place(e.facility))]


def _h_letterhead(c: _Ctx) -> list[_Line]:
    e, rng = c.enc, c.rng
    return [_ln(c.place(e.facility, upper=True)),
            _ln(f"{rng.randint(100, 9899)} {rng.choice(STREETS)}, {rng.choice(TOWNS)}   Tel {_phone_number(rng)}"),
            _ln(c.kind(), "    Date of Visit: ", c.hdate())]


HEADERS: dict[str, Callable[[_Ctx], list[_Line]]] = {
    "dos_block": _h_dos_block, "visit_line": _h_visit_line, "encounter_line": _h_encounter_line,
    "star_banner": _h_star_banner, "fax": _h_fax, "pipe": _h_pipe, "prose": _h_prose, "equals": _h_equals,
    "enc_pipe": _h_enc_pipe, "date_clinic": _h_date_clinic, "dept": _h_dept, "visit_with": _h_visit_with,
    "title_first": _h_title_first, "title_date": _h_title_date, "letterhead": _h_letterhead,
    "admission": _h_admission, "exam": _h_exam,
}


def _distractor(c: _Ctx, slot: str, upper: bool, time_of_day: str) -> str:
    """A header field that is not gold: record, account and visit numbers, room, reason, referrer..."""
    rng, e, cast = c.rng, c.enc, c.chart.cast
    if slot == "referrer":
        other = cast.np if e.provider == cast.pcp else cast.pcp
        return _Fixed(other.upper() if upper else other)
    text = {
        "recno": lambda: c.chart.patient.mrn, "acct": lambda: str(rng.randint(10 ** 7, 10 ** 8 - 1)),
        "visit_no": lambda: f"V{rng.randint(10 ** 6, 10 ** 7 - 1)}", "time": lambda: time_of_day,
        "room": lambda: f"{rng.randint(2, 7)}{rng.choice('NSEW')}-{rng.randint(1, 38):02d}",
        "reason": lambda: _reason(e), "payer": lambda: rng.choice(PAYERS),
        "unit": lambda: rng.choice(UNITS.get(e.cat, OUTPATIENT_UNITS)),
        "order": lambda: f"ORD{rng.randint(10 ** 6, 10 ** 7 - 1)}",
    }[slot]()
    return text.upper() if upper else text


def _family_header(c: _Ctx, f: Family) -> list[_Line]:
    """The header a grammar family prints: every field value a tagged segment, a stay's discharge date
    where the family has a place for it (account banners print a visit's departure the same day)."""
    e, rng, up = c.enc, c.rng, f.upper_values
    stay = e.cat == "inpatient"
    start = (rng.randint(13, 22) if stay else rng.randint(7, 17), rng.randrange(60))
    values = {"date": (c.date(e.start, f.date_style, start),), "time": (fmt_time(*start, f.time_style),),
              "type": (c.kind(up),), "provider": (c.person(e.provider, up),), "facility": (c.place(e.facility, up),)}
    if stay or f.layout in ACCOUNT_LAYOUTS:
        end = (rng.randint(9, 15) if stay else min(23, start[0] + rng.randint(1, 3)), rng.randrange(60))
        values["discharge"] = (c.date(e.end, f.date_style, end),)
        values["discharge_time"] = (fmt_time(*end, f.time_style),)
    for slot, _ in f.fields:
        if slot in DISTRACTOR_SLOTS:
            values[slot] = (_distractor(c, slot, up, values["time"][0]),)
    return [_Line(row) for row in render_header(f, values)]


def _header(c: _Ctx) -> list[_Line]:
    family = c.family
    if family is None:
        return []
    return HEADERS[family.variant](c) if family.layout == "legacy" else _family_header(c, family)


# --------------------------------------------------------------------------------------------
# Notes: sub-headers, signatures, sections
# --------------------------------------------------------------------------------------------

class _NoteSpec(NamedTuple):
    title: str
    day: date
    time: str
    author: str
    body: Callable[[_Ctx, _NoteSpec, int], list[_Line]]
    signed: bool
    day_no: int = 0
    study: Study | None = None
    abnormal: bool = True
    proc: Proc | None = None
    specialty: Specialty | None = None


class _NS(NamedTuple):
    """Per-note section layout."""

    upper: bool
    inline: bool
    gap: int


def _subheader(c: _Ctx, style: str, spec: _NoteSpec) -> list[_Line]:
    """A note's sub-header: nothing, its title alone, or a template of the record's sub-header styles."""
    if style == "none":
        return []
    if style == "title":
        return [_ln(spec.title.upper() if c.rng.random() < 0.6 else spec.title, kind="sub")]
    values = {"title": (spec.title,), "TITLE": (spec.title.upper(),), "date": (c.date(spec.day, c.style.sub_date),),
              "time": (spec.time,), "author": (c.person(spec.author),), "type": (c.kind(),)}
    return [_Line(row, "sub") for row in fill(style, values)]


def _signature(c: _Ctx, spec: _NoteSpec) -> list[_Line]:
    rng = c.rng
    day = spec.day if c.enc.cat == "inpatient" else spec.day + timedelta(days=rng.choice((0, 0, 0, 0, 1, 2)))
    values = {"date": (c.date(day, c.style.sig_date),), "time": (c.time(7, 21),), "author": (c.person(spec.author),)}
    style = rng.choice(c.style.sig_styles)
    if "{date2}" in style:  # transcription date and time
        values["date2"] = (c.date(day + timedelta(days=rng.randint(1, 2)), c.style.sig_date),)
        values["time2"] = (c.time(6, 12),)
    return [_Line(row, "sig") for row in fill(style, values)]


def _note_style(c: _Ctx) -> _NS:
    rng = c.rng
    return _NS(rng.random() < c.style.upper, rng.random() < c.style.inline, rng.choices((0, 1, 2), (30, 62, 8))[0])


def _wrap(c: _Ctx, text: str) -> list[str]:
    width = c.style.width
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) if width else [text]


def _section(c: _Ctx, ns: _NS, name: str, content: str | list[str | _Line]) -> list[_Line]:
    """A labelled section: inline ("LABEL: text") or label line + content lines; a markdown export heads
    it its way ("# Chief Complaint") on a line of its own."""
    mark = c.style.primary.section_mark
    label = name.upper() if ns.upper and not mark else name
    if mark:
        rows = _wrap(c, content) if isinstance(content, str) else content
        lines = [_ln(mark.format(name=label), kind="section")] + [r if isinstance(r, _Line) else _ln(r) for r in rows]
        return lines + _blank(max(1, ns.gap))
    if isinstance(content, str) and ns.inline:
        rows = _wrap(c, f"{label}: {content}")
        lines = [_ln(rows[0], kind="section")] + [_ln(r) for r in rows[1:]]
    else:
        rows = _wrap(c, content) if isinstance(content, str) else content
        lines = [_ln(f"{label}:", kind="section")] + [r if isinstance(r, _Line) else _ln(r) for r in rows]
    return lines + _blank(ns.gap)


def _fill(template: str, slots: dict[str, str]) -> str:
    return template.format_map(slots)


def _slots(c: _Ctx) -> dict[str, str]:
    """Random values for vocabulary templates; every date is before the encounter."""
    rng, e = c.rng, c.enc
    prior = _prior(rng, e.start)
    return {
        "dur": rng.choice(DURATIONS), "prior": fmt_date(prior, c.style.body_date),
        "prior_my": f"{prior.month:02d}/{prior.year}", "prior_year": str(prior.year - rng.randint(0, 5)),
        "bp": f"{rng.randint(116, 158)}/{rng.randint(66, 94)}", "glu_lo": str(rng.randint(95, 120)),
        "glu_hi": str(rng.randint(125, 185)), "a1c": f"{rng.uniform(6.1, 8.9):.1f}", "ldl": str(rng.randint(62, 160)),
        "n": str(rng.randint(2, 6)), "tsh": f"{rng.uniform(0.8, 5.5):.2f}", "pain": str(rng.randint(2, 8)),
        "cr": f"{rng.uniform(1.1, 1.6):.2f}", "egfr": str(rng.randint(45, 59)), "psa": f"{rng.uniform(0.8, 3.9):.1f}",
        "vitd": str(rng.randint(14, 29)), "ua": f"{rng.uniform(5.8, 8.4):.1f}", "hgb": f"{rng.uniform(9.8, 11.9):.1f}",
        "drug": rng.choice(e.meds).drug if e.meds else "lisinopril", "complaint": rng.choice(ACUTES).complaint,
    }


def _short(who: str) -> str:
    """Informal reference to a clinician ("Dr. Okafor"); never equal to the printed field form."""
    name, cred = who.split(", ", 1)
    last = name.split()[-1]
    return f"Dr. {last}" if cred.startswith(("MD", "DO")) else f"{last} ({cred})"


def _med_line(style: str, k: int, m: Med) -> str:
    route = {"PO": "by mouth", "SC": "subcutaneously", "inhaled": "by inhalation"}.get(m.route, m.route)
    return {
        "dash": f"- {m.drug} {m.dose} {m.route} {m.freq}",
        "num": f"{k}. {m.drug.capitalize()} {m.dose} {m.route} {m.freq}",
        "caps": f"{m.drug} {m.dose} {m.route} {m.freq}".upper(),
        "table": f"{m.drug:<26}{m.dose:<12}{m.route:<9}{m.freq}",
        "sig": f"{m.drug} {m.dose}: take {route} {m.freq}",
    }[style]


def _med_lines(c: _Ctx, meds: tuple[Med, ...] | list[Med]) -> list[str]:
    return [_med_line(c.style.med_style, k, m) for k, m in enumerate(meds, 1)] or ["None"]


def _dx_lines(c: _Ctx, dxs: list[tuple[str, str, str]]) -> list[str]:
    style = c.rng.choice(("num", "code_first", "hash"))
    out = []
    for k, (name, icd, note) in enumerate(dxs, 1):
        tail = f" - {note}" if note else ""
        out.append({"num": f"{k}. {name} ({icd}){tail}", "code_first": f"{icd}  {name}{tail}",
                    "hash": f"# {name}{tail}"}[style])
    return out


def _vital_lines(c: _Ctx) -> list[str]:
    rng = c.rng
    bp, hr, t = f"{rng.randint(108, 162)}/{rng.randint(62, 96)}", rng.randint(58, 104), rng.uniform(97.0, 100.4)
    rr, sat, wt = rng.randint(12, 20), rng.randint(92, 100), rng.randint(118, 262)
    if rng.random() < 0.5:
        return [f"BP {bp} | HR {hr} | Temp {t:.1f} F | RR {rr} | SpO2 {sat}% RA | Wt {wt} lb"]
    return [f"Blood pressure: {bp} mmHg", f"Pulse: {hr}", f"Temperature: {t:.1f} F", f"Respirations: {rr}",
            f"O2 saturation: {sat}% on room air", f"Weight: {wt} lb"]


def _exam_lines(c: _Ctx, finding: str | None, brief: bool = False) -> list[str]:
    systems = list(EXAM_SYSTEMS[:6]) if brief else list(EXAM_SYSTEMS)
    lines = [f"{name}: {text}" for name, text in systems]
    if finding:
        lines.insert(c.rng.randint(1, len(lines)), f"Focused: {finding}")
    return lines


def _ros_lines(c: _Ctx, acute: Acute | None) -> list[str]:
    lines = [f"{name}: {text}" for name, text in ROS_SYSTEMS]
    if acute:
        lines.insert(0, f"Positive for {acute.complaint} and {acute.associated}. All other systems reviewed.")
    return lines


def _lab_lines(c: _Ctx, panels: tuple[tuple, ...], abnormal_p: float = 0.2) -> list[str]:
    rng, style, lines = c.rng, c.style.lab_style, []
    for title, analytes in panels:
        lines.append(title)
        for name, unit, lo, hi, dec in analytes:
            span = hi - lo
            value = rng.uniform(lo, hi) if rng.random() > abnormal_p else rng.choice(
                (rng.uniform(lo - span * 0.3, lo), rng.uniform(hi, hi + span * 0.4)))
            value = max(value, 0.0)
            flag = "H" if value > hi else "L" if value < lo else ""
            val, ref = f"{value:.{dec}f}", f"{lo:.{dec}f}-{hi:.{dec}f}"
            lines.append({"fixed": f"  {name:<20}{val:>9} {flag:<2} {unit:<8} {ref}",
                          "pipe": f"{name} | {val} | {unit} | {ref} | {flag}",
                          "colon": f"{name}: {val} {unit} (ref {ref}) {flag}".rstrip()}[style])
    return lines


def _title_name(c: _Ctx) -> str:
    pt = c.chart.patient
    return c.rng.choice((f"{'Ms.' if pt.female else 'Mr.'} {pt.last}", "The patient", pt.first))


def _hpi(c: _Ctx, s: dict[str, str], acute: Acute | None, lead: str = "presents",
         reason: str = "for scheduled follow-up") -> str:
    e, rng, pt = c.enc, c.rng, c.chart.patient
    he = "She" if pt.female else "He"
    history = ", ".join(p.name.lower() for p in e.problems[:3])
    age = _age(pt.dob, e.start)
    article = "an" if str(age).startswith("8") or age in (11, 18) else "a"
    parts = [f"{_title_name(c)} is {article} {age}-year-old {'woman' if pt.female else 'man'} with a "
             f"history of {history} who {lead} " + (f"with {_fill(acute.history, s)}." if acute else f"{reason}.")]
    if acute:
        parts.append(f"{he} also reports {acute.associated}; {acute.negatives}.")
    parts += [_fill(rng.choice(p.status), s) for p in rng.sample(e.problems, min(2, len(e.problems)))]
    if rng.random() < 0.6:
        parts.append(_fill(rng.choice(PRIOR_MENTIONS), s))
    return " ".join(parts)


# --------------------------------------------------------------------------------------------
# Note bodies: core sections always, optional ones and growing lists until the budget is met
# --------------------------------------------------------------------------------------------

_Part = tuple[int, Callable[[], list[_Line]]]  # (position in the note, section builder)
_Rows = tuple[int, str, Callable[[], list]]  # (position, section label, builder of more rows)


def _compose(c: _Ctx, ns: _NS, budget: int, core: list[_Part], optional: list[_Part],
             growing: list[_Rows]) -> list[_Line]:
    """Core parts, then optional parts in random order, then rows appended to `growing` sections
    (dated results, data reviewed, ...) until the note reaches `budget` characters."""
    parts = [(key, make()) for key, make in core]
    size = sum(_size(lines) for _, lines in parts)
    for key, make in c.rng.sample(optional, len(optional)):
        if size >= budget:
            break
        parts.append((key, make()))
        size += _size(parts[-1][1])
    rows: dict[int, list] = {}
    for _ in range(400):
        if size >= budget or not growing:
            break
        pick = c.rng.randrange(len(growing))
        new = growing[pick][2]()
        rows.setdefault(pick, []).extend(new)
        size += sum(len(r.text if isinstance(r, _Line) else r) + 1 for r in new)
    parts += [(growing[pick][0], _section(c, ns, growing[pick][1], got)) for pick, got in rows.items()]
    parts.sort(key=lambda part: part[0])
    return [line for _, lines in parts for line in lines]


def _common(c: _Ctx, ns: _NS, s: dict[str, str], acute: Acute | None) -> dict[str, _Part]:
    """Section builders shared by most note types, keyed by name, with their canonical position."""
    e, rng = c.enc, c.rng

    def maintenance() -> list[_Line]:
        prior = [fmt_date(_prior(rng, e.start), c.style.body_date) for _ in range(3)]
        return _section(c, ns, "Health Maintenance", [
            f"Colonoscopy: {s['prior_my']}", f"Mammogram/PSA: {prior[0]}", f"Influenza vaccine: {prior[1]}",
            f"Tdap: {s['prior_year']}", f"Pneumococcal vaccine: {prior[2]}"])

    def results() -> list[_Line]:
        stamp = _ln("Collected ", c.date(e.start), f" {c.time(6, 11)}:")
        return _section(c, ns, rng.choice(("Results", "Labs Today", "Lab Results")),
                        [stamp, *_lab_lines(c, tuple(rng.sample(LAB_PANELS, rng.randint(1, 2))))])

    return {
        "ros": (2, lambda: _section(c, ns, "Review of Systems", _ros_lines(c, acute))),
        "pmh": (3, lambda: _section(c, ns, rng.choice(("Past Medical History", "Problem List", "Active Problems")),
                                    _dx_lines(c, [(p.name, p.icd, "") for p in e.problems]))),
        "psh": (4, lambda: _section(c, ns, "Past Surgical History",
                                    [_fill(x, s) for x in rng.sample(SURGICAL_HISTORY, 2)])),
        "social": (5, lambda: _section(c, ns, "Social History", _fill(rng.choice(SOCIAL), s))),
        "family": (6, lambda: _section(c, ns, "Family History", rng.choice(FAMILY))),
        "meds": (7, lambda: _section(c, ns, rng.choice(MED_LABELS), _med_lines(c, e.meds))),
        "allergies": (8, lambda: _section(c, ns, "Allergies", rng.choice(ALLERGIES))),
        "vitals": (9, lambda: _section(c, ns, "Vital Signs", _vital_lines(c))),
        "exam": (10, lambda: _section(c, ns, "Physical Exam", _exam_lines(c, acute.exam if acute else None))),
        "results": (11, results),
        "maintenance": (14, maintenance),
    }


def _grow_results(c: _Ctx) -> _Rows:
    """Earlier dated lab tables, oldest last."""
    def rows() -> list[str]:
        when = fmt_date(_prior(c.rng, c.enc.start), c.style.body_date)
        return [f"Collected {when}:", *_lab_lines(c, (c.rng.choice(LAB_PANELS),))]
    return 11, c.rng.choice(("Prior Results", "Previous Labs", "Cumulative Results")), rows


def _grow_data(c: _Ctx) -> _Rows:
    """Earlier studies and outside records reviewed, each with its date."""
    def rows() -> list[str]:
        rng = c.rng
        when = fmt_date(_prior(rng, c.enc.start), c.style.body_date)
        study = rng.choice(tuple(STUDIES.values()))
        return [rng.choice((f"{study.name} {when}: {study.impression_normal}",
                            f"{study.name} ({when}) - {study.impression_abnormal}",
                            f"Outside records dated {when} reviewed: {rng.choice(INTERVAL_EVENTS)}."))]
    return 11, c.rng.choice(("Data Reviewed", "Prior Studies", "Records Reviewed")), rows


def _grow_interval(c: _Ctx) -> _Rows:
    def rows() -> list[str]:
        when = fmt_date(_prior(c.rng, c.enc.start), c.style.body_date)
        return [f"{when}: {c.rng.choice(INTERVAL_EVENTS)}."]
    return 1, "Interval History", rows


def _grow_education(c: _Ctx) -> _Rows:
    return 14, c.rng.choice(("Patient Education", "Counseling")), lambda: [c.rng.choice(EDUCATION)]


def _diagnoses(c: _Ctx, acute: Acute | None) -> list[tuple[str, str, str]]:
    rng, e = c.rng, c.enc
    dxs = [(acute.dx, acute.icd, rng.choice(("new", "improving", "acute")))] if acute else []
    return dxs + [(p.name, p.icd, rng.choice(("stable", "well controlled", "suboptimally controlled")))
                  for p in e.problems[:rng.randint(1, 3)]]


def _body_progress(c: _Ctx, spec: _NoteSpec, budget: int) -> list[_Line]:
    rng, e, ns, s = c.rng, c.enc, _note_style(c), _slots(c)
    acute, parts = e.acute, _common(c, ns, s, e.acute)
    cc = acute.complaint if acute else rng.choice(("follow-up of chronic conditions", "medication review",
                                                   f"{e.problems[0].name.lower()} follow-up", "no new complaints"))
    hpi = _hpi(c, s, acute)
    if e.cat == "telehealth":
        hpi = f"{rng.choice(TELE_CONSENT)} {hpi}"
    dxs = _dx_lines(c, _diagnoses(c, acute))
    plan = [*(acute.plan if acute else ()), *(_fill(rng.choice(p.plan), s) for p in e.problems[:2]),
            f"Return to clinic in {rng.choice(('2 weeks', '4 weeks', '3 months', '6 months'))}."]
    optional = [parts[k] for k in ("ros", "pmh", "psh", "social", "family", "allergies", "results", "maintenance")]
    if rng.random() < 0.25:  # SOAP layout
        objective = [*(_vital_lines(c) if e.cat != "telehealth" else ["Vitals self-reported; no distress on video."]),
                     *_exam_lines(c, acute.exam if acute else None, brief=True)]
        core = [(0, lambda: _section(c, ns, "Subjective", f"{cc.capitalize()}. {hpi}")),
                (10, lambda: _section(c, ns, "Objective", objective)),
                (12, lambda: _section(c, ns, "Assessment", dxs)), (13, lambda: _section(c, ns, "Plan", plan))]
    else:
        core = [(0, lambda: _section(c, ns, "Chief Complaint", cc)),
                (1, lambda: _section(c, ns, "History of Present Illness", hpi)),
                (12, lambda: _section(c, ns, rng.choice(("Assessment", "Impression", "Diagnoses")), dxs)),
                (13, lambda: _section(c, ns, "Plan", plan))]
        optional += [parts["exam"]] + ([parts["vitals"]] if e.cat != "telehealth" else [])
    (core if rng.random() < 0.85 else optional).append(parts["meds"])
    growing = [_grow_results(c), _grow_data(c), _grow_interval(c), _grow_education(c)]
    return _compose(c, ns, budget, core, optional, growing)


def _body_rooming(c: _Ctx, spec: _NoteSpec, budget: int) -> list[_Line]:
    rng, e, ns = c.rng, c.enc, _note_style(c)
    reason = e.acute.complaint if e.acute else "follow-up"
    lines = [_ln(f"Patient roomed for {reason}. Identity verified with name and date of birth."),
             *(_ln(v) for v in _vital_lines(c)),
             _ln(f"PHQ-2 score {rng.randint(0, 2)}. Fall risk screen negative. Medications and allergies reviewed.")]
    return lines + (_section(c, ns, "Medications", _med_lines(c, e.meds)) if rng.random() < 0.4 else [])


def _body_addendum(c: _Ctx, spec: _NoteSpec, budget: int) -> list[_Line]:
    rng = c.rng
    return [_ln(rng.choice(("ADDENDUM: ", "Addendum: ")) + rng.choice((
        "Labs resulted and were reviewed; patient notified through the portal.",
        "Imaging report reviewed. Findings discussed with the patient by phone.",
        "Prior authorization approved; prescription resent to pharmacy.")))]


def _body_phone(c: _Ctx, spec: _NoteSpec, budget: int) -> list[_Line]:
    rng, e, ns, s = c.rng, c.enc, _note_style(c), _slots(c)
    reason, detail, advice = e.phone or PHONE_REASONS[0]
    parts = _common(c, ns, s, None)
    core = [(0, lambda: _section(c, ns, "Reason for Call", reason)),
            (1, lambda: _section(c, ns, "Details", _fill(detail, s))),
            (13, lambda: _section(c, ns, rng.choice(("Advice", "Plan", "Action Taken")), advice)),
            (14, lambda: _section(c, ns, "Disposition",
                                  rng.choice(("Patient agrees with plan.", "Will call back if not improved.",
                                              "Message routed to provider for review."))))]
    optional = [parts["meds"], parts["pmh"], parts["allergies"]]
    return _compose(c, ns, budget, core, optional, [_grow_results(c), _grow_interval(c)])


def _body_triage(c: _Ctx, spec: _NoteSpec, budget: int) -> list[_Line]:
    rng, e = c.rng, c.enc
    complaint = e.acute.complaint if e.acute else "evaluation"
    return [_ln(f"Arrived via {rng.choice(('private vehicle', 'EMS', 'walk-in'))}. Chief complaint: {complaint}."),
            _ln(f"ESI level {rng.choice((2, 3, 3, 4))}. Pain {rng.randint(2, 9)}/10."),
            *(_ln(v) for v in _vital_lines(c)),
            _ln(f"Allergies: {rng.choice(ALLERGIES)}. Isolation screen negative. Placed in room {rng.randint(1, 40)}.")]


def _body_ed(c: _Ctx, spec: _NoteSpec, budget: int) -> list[_Line]:
    rng, e, ns, s = c.rng, c.enc, _note_style(c), _slots(c)
    acute = e.acute or ACUTES[0]
    parts = _common(c, ns, s, acute)
    steps = ["Patient evaluated at bedside.", *acute.plan, "Reassessed; symptoms improved.",
             "Discussed results and plan with patient."]
    course = [f"{c.time(0, 23)} {step}" for step in steps[:rng.randint(3, len(steps))]]
    core = [(0, lambda: _section(c, ns, "Chief Complaint", acute.complaint)),
            (1, lambda: _section(c, ns, "History of Present Illness", _hpi(c, s, acute))),
            parts["exam"],
            (11, lambda: _section(c, ns, "ED Course", course)),
            (12, lambda: _section(c, ns, rng.choice(("Medical Decision Making", "MDM")), rng.choice((
                f"Differential includes {acute.dx.lower()} among others; workup as above. Low risk features.",
                "Presentation most consistent with the diagnosis below. No emergent findings on workup.")))),
            (13, lambda: _section(c, ns, rng.choice(("Clinical Impression", "Diagnoses", "ED Diagnosis")),
                                  _dx_lines(c, [(acute.dx, acute.icd, "")]))),
            (14, lambda: _section(c, ns, "Disposition", rng.choice((
                "Discharged home in stable condition with return precautions.",
                f"Discharged home. Follow up with {_short(c.chart.cast.pcp)} in 2-3 days."))))]
    optional = [parts[k] for k in ("ros", "pmh", "meds", "allergies", "vitals", "results", "social")]
    reassess = (11, "Reassessments", lambda: [f"{c.time(0, 23)} {rng.choice(ED_REASSESSMENTS)}"])
    return _compose(c, ns, budget, core, optional, [_grow_results(c), _grow_data(c), reassess])


def _body_imaging(c: _Ctx, spec: _NoteSpec, budget: int) -> list[_Line]:
    rng, e, ns, s = c.rng, c.enc, _note_style(c), _slots(c)
    study = spec.study or STUDIES["XR CHEST 2 VIEWS"]
    findings = list(study.normal) + (list(study.abnormal) if spec.abnormal else [])
    comparison = rng.choice((f"{study.name.split()[0]} dated {s['prior']}.", "None available.",
                             f"Prior study {s['prior']}."))
    core = [(0, lambda: _section(c, ns, "Exam", study.name)),
            (1, lambda: _section(c, ns, rng.choice(("Clinical Indication", "History")), study.indication)),
            (2, lambda: _section(c, ns, "Comparison", comparison)),
            (3, lambda: _section(c, ns, "Technique", study.technique)),
            (4, lambda: _section(c, ns, "Findings", " ".join(findings))),
            (6, lambda: _section(c, ns, "Impression",
                                 study.impression_abnormal if spec.abnormal else study.impression_normal))]
    optional = [(0, lambda: [_ln("Ordering provider: ", c.person(e.provider))])]
    return _compose(c, ns, budget, core, optional, [_grow_data(c)])


def _body_lab(c: _Ctx, spec: _NoteSpec, budget: int) -> list[_Line]:
    rng, e, ns = c.rng, c.enc, _note_style(c)
    reported = e.start + timedelta(days=rng.choice((0, 0, 1)))
    core = [(0, lambda: [_ln("Collected: ", c.date(e.start), f" {c.time(6, 11)}   Received: ", c.date(e.start),
                             f" {c.time(11, 14)}   Reported: ", c.date(reported), f" {c.time(14, 20)}")]),
            (5, lambda: [_ln(x) for x in _lab_lines(c, e.panels or LAB_PANELS[:1])] + _blank(ns.gap))]
    optional = [(1, lambda: [_ln("Ordering provider: ", c.person(e.provider))]),
                (1, lambda: [_ln("Performing lab: ", c.place(c.chart.cast.lab))]),
                (9, lambda: _section(c, ns, "Comments", rng.choice((
                    "Specimen slightly hemolyzed; potassium may be falsely elevated.", "Fasting specimen.",
                    "Results called to the ordering office."))))]
    return _compose(c, ns, budget, core, optional, [_grow_results(c)])


def _body_op(c: _Ctx, spec: _NoteSpec, budget: int) -> list[_Line]:
    rng, ns, s = c.rng, _note_style(c), _slots(c)
    proc = spec.proc or PROCS[OUTPATIENT_PROCS[0]]
    core = [(0, lambda: _section(c, ns, "Preoperative Diagnosis", proc.pre_dx)),
            (1, lambda: _section(c, ns, "Postoperative Diagnosis", "Same")),
            (2, lambda: _section(c, ns, "Procedure", proc.name)),
            (3, lambda: [_ln(f"{'SURGEON' if ns.upper else 'Surgeon'}: ", c.person(spec.author))]),
            (4, lambda: _section(c, ns, "Anesthesia", proc.anesthesia)),
            (7, lambda: _section(c, ns, "Findings", proc.findings)),
            (8, lambda: _section(c, ns, "Description of Procedure", " ".join(proc.steps)))]
    optional = [(5, lambda: _section(c, ns, "Estimated Blood Loss", rng.choice(("Minimal", "10 mL", "25 mL")))),
                (5, lambda: _section(c, ns, "Specimens", proc.specimens)),
                (6, lambda: _section(c, ns, "Complications", "None")),
                (6, lambda: _section(c, ns, "Indications", _fill(proc.indication, s))),
                (9, lambda: _section(c, ns, "Disposition", "To PACU in stable condition."))]
    narrative = (8, "Operative Details", lambda: [rng.choice(OP_NARRATIVE)])
    return _compose(c, ns, budget, core, optional, [narrative, _grow_data(c)])


def _body_periop_nursing(c: _Ctx, spec: _NoteSpec, budget: int) -> list[_Line]:
    rng = c.rng
    if spec.title.lower().startswith("pre"):
        text = (f"Arrived at {c.time(6, 9)} with escort. NPO since midnight. Consent signed and site marked. "
                f"IV placed {rng.choice(('left', 'right'))} forearm, 20 g. Allergies: {rng.choice(ALLERGIES)}.")
    else:
        text = (f"Received from procedure room. Aldrete score {rng.choice((9, 10))}/10. Vital signs stable. "
                "Tolerated oral fluids. Discharge instructions reviewed with patient and escort; "
                "discharged ambulatory.")
    return [_ln(t) for t in _wrap(c, text)] + [_ln(v) for v in _vital_lines(c)]


def _body_consult(c: _Ctx, spec: _NoteSpec, budget: int) -> list[_Line]:
    rng, e, ns, s = c.rng, c.enc, _note_style(c), _slots(c)
    specialty, acute = spec.specialty or SPECIALTIES["Cardiology"], e.acute
    parts = _common(c, ns, s, acute)
    reason = e.admit.dx.lower() if e.admit else rng.choice(specialty.reasons)
    requester = e.provider if e.cat == "inpatient" else c.chart.cast.pcp
    core = [(0, lambda: _section(c, ns, "Reason for Consult", reason)),
            (1, lambda: _section(c, ns, "History of Present Illness", _hpi(c, s, acute, lead="is seen"))),
            (12, lambda: _section(c, ns, "Impression", [rng.choice(specialty.impressions)])),
            (13, lambda: _section(c, ns, "Recommendations", [f"{k}. {r}" for k, r in enumerate(specialty.recs, 1)])),
            (15, lambda: [_ln(rng.choice(("Thank you for involving us in the care of this patient.",
                                          "We will follow along. Please call with questions.")))]),
            parts["meds"]]
    optional = [(0, lambda: [_ln(f"Requesting physician: {_short(requester)}")])] + [
        parts[k] for k in ("pmh", "psh", "social", "family", "allergies", "ros", "vitals", "exam", "results")]
    return _compose(c, ns, budget, core, optional, [_grow_results(c), _grow_data(c), _grow_interval(c)])


def _body_hp(c: _Ctx, spec: _NoteSpec, budget: int) -> list[_Line]:
    rng, e, ns, s = c.rng, c.enc, _note_style(c), _slots(c)
    adm = e.admit or ADMITS[0]
    parts = _common(c, ns, s, None)
    hpi = _hpi(c, s, None, lead="presents to the emergency department", reason=f"with {_fill(adm.presentation, s)}")
    plan = [f"1. {adm.dx}: admit to {rng.choice(('medicine', 'telemetry', 'step-down'))}; {adm.treatment}."]
    plan += [f"{k}. {p.name}: continue home regimen." for k, p in enumerate(e.problems[:3], 2)]
    plan += ["DVT prophylaxis: enoxaparin.", f"Code status: {rng.choice(('Full code', 'DNR/DNI', 'Full code'))}."]
    core = [(0, lambda: _section(c, ns, "Chief Complaint", adm.complaint)),
            (1, lambda: _section(c, ns, "History of Present Illness", hpi)),
            (7, lambda: _section(c, ns, "Home Medications", _med_lines(c, e.meds))),
            (12, lambda: _section(c, ns, "Assessment and Plan", plan))]
    optional = [parts[k] for k in ("pmh", "psh", "social", "family", "allergies", "ros", "vitals", "exam", "results")]
    return _compose(c, ns, budget, core, optional, [_grow_results(c), _grow_data(c), _grow_interval(c)])


def _body_nursing_admit(c: _Ctx, spec: _NoteSpec, budget: int) -> list[_Line]:
    rng = c.rng
    text = (f"Admitted to room {rng.randint(200, 699)} from the ED at {spec.time}. Oriented to room, call light and "
            f"plan of care. Admission database completed. Home medications reconciled with pharmacy. "
            f"Allergies: {rng.choice(ALLERGIES)}. Morse fall score {rng.randint(15, 65)}.")
    return [_ln(t) for t in _wrap(c, text)] + _nursing_systems(c)


def _nursing_systems(c: _Ctx) -> list[_Line]:
    s = _slots(c)
    return [_ln(f"{name}: {_fill(c.rng.choice(options), s)}") for name, options in NURSING_SYSTEMS]


def _body_nursing_shift(c: _Ctx, spec: _NoteSpec, budget: int) -> list[_Line]:
    rng = c.rng
    lines = [_ln(f"Shift assessment {rng.choice(('0700-1900', '1900-0700'))}."), *_nursing_systems(c)]
    while _size(lines) < budget and len(lines) < 80:
        lines.append(_ln(f"{c.time(0, 23)} {rng.choice(NURSING_EVENTS)}"))
    return lines


def _body_progress_day(c: _Ctx, spec: _NoteSpec, budget: int) -> list[_Line]:
    rng, e, ns, s = c.rng, c.enc, _note_style(c), _slots(c)
    adm = e.admit or ADMITS[0]
    parts = _common(c, ns, s, None)
    course = adm.course[min(spec.day_no - 2, len(adm.course) - 1)]
    core = [(0, lambda: [_ln(f"Hospital day {spec.day_no}.")]),
            (1, lambda: _section(c, ns, rng.choice(("Subjective", "Interval History")), rng.choice((
                "Feels better today. Slept well. Tolerating diet.",
                "Still fatigued; pain improved with current regimen.",
                "No acute events overnight. Ambulated in the hallway with PT.")))),
            (9, lambda: _section(c, ns, "Objective", _vital_lines(c) + _exam_lines(c, None, brief=True)[:3])),
            (12, lambda: _section(c, ns, "Assessment and Plan", [
                f"{adm.dx}: {course} Continue {adm.treatment}.",
                *(f"{p.name}: stable, continue home medications." for p in e.problems[:2]),
                rng.choice(("Dispo: anticipate discharge in 1-2 days.", "Dispo: pending clinical improvement."))]))]
    optional = [parts["results"], (7, lambda: _section(c, ns, "Scheduled Medications", _med_lines(c, e.meds)))]
    return _compose(c, ns, budget, core, optional, [_grow_results(c), _grow_data(c)])


def _body_discharge(c: _Ctx, spec: _NoteSpec, budget: int) -> list[_Line]:
    rng, e, ns, s = c.rng, c.enc, _note_style(c), _slots(c)
    adm, cast = e.admit or ADMITS[0], c.chart.cast
    L = (lambda t: t.upper()) if ns.upper else (lambda t: t)  # noqa: E731
    follow = e.end + timedelta(days=rng.randint(5, 14))
    core = [(0, lambda: [_ln(L("Admission Date: "), c.date(e.start)), _ln(L("Discharge Date: "), c.date(e.end))]),
            (2, lambda: _section(c, ns, "Admitting Diagnosis", adm.dx)),
            (3, lambda: _section(c, ns, "Discharge Diagnoses", _dx_lines(
                c, [(adm.dx, adm.icd, "")] + [(p.name, p.icd, "") for p in e.problems[:3]]))),
            (6, lambda: _section(c, ns, "Hospital Course", f"Admitted with {_fill(adm.presentation, s)}. Treated with "
                                 f"{adm.treatment}. " + " ".join(adm.course))),
            (8, lambda: _section(c, ns, "Discharge Medications", _med_lines(c, list(e.meds) + list(adm.dc_meds)))),
            (10, lambda: _section(c, ns, "Follow-up", f"{_short(cast.pcp)} on {fmt_date(follow, c.style.body_date)}."))]
    optional = [(1, lambda: [_ln(L("Attending: "), c.person(e.provider))]),
                (1, lambda: [_ln(L("Hospital: "), c.place(e.facility))]),
                (4, lambda: _section(c, ns, "Consultants", adm.consult or "None")),
                (5, lambda: _section(c, ns, "Procedures", adm.proc or "None")),
                (7, lambda: _section(c, ns, "Condition at Discharge", rng.choice(("Stable", "Good", "Fair")))),
                (9, lambda: _section(c, ns, "Disposition", rng.choice(DISPOSITIONS))),
                (11, lambda: _section(c, ns, "Diet/Activity", "Heart-healthy diet. Activity as tolerated."))]
    days = iter(range(1, 1000))
    by_day = (6, "Course by Day", lambda: [f"Day {next(days)}: {rng.choice(HOSPITAL_COURSE + adm.course)}"])
    return _compose(c, ns, budget, core, optional, [by_day, _grow_results(c)])


# --------------------------------------------------------------------------------------------
# Note plans per encounter category
# --------------------------------------------------------------------------------------------

def _plan_notes(c: _Ctx) -> list[_NoteSpec]:
    """The ordered notes of the current encounter."""
    e, rng, cast = c.enc, c.rng, c.chart.cast
    signed = lambda: rng.random() < c.style.sig_rate  # noqa: E731
    if e.cat == "inpatient":
        return _plan_stay(c)
    if e.cat in ("office", "telehealth"):
        titles = ("PROGRESS NOTE", "Office Note", "Clinic Note", "Provider Note") if e.cat == "office" else (
            "Telemedicine Note", "Virtual Care Note")
        main = _NoteSpec(rng.choice(titles), e.start, c.time(11, 16), e.provider, _body_progress, signed())
        if e.n_notes == 1:
            return [main]
        if e.cat == "office" and rng.random() < 0.6:
            return [_NoteSpec("Rooming Note", e.start, c.time(8, 10), rng.choice(cast.nurses), _body_rooming, False),
                    main]
        later = e.start + timedelta(days=rng.randint(1, 3))
        return [main, _NoteSpec("Addendum", later, c.time(8, 17), e.provider, _body_addendum, signed())]
    if e.cat == "phone":
        author = e.provider if rng.random() < 0.6 else rng.choice(cast.nurses)
        title = rng.choice(("PHONE NOTE", "Telephone Call Documentation", "Nurse Triage Call"))
        return [_NoteSpec(title, e.start, c.time(8, 17), author, _body_phone, signed())]
    if e.cat == "ed":
        triage = _NoteSpec("ED Triage Note", e.start, c.time(0, 10), rng.choice(cast.nurses), _body_triage, False)
        main = _NoteSpec(rng.choice(("EMERGENCY DEPARTMENT NOTE", "ED Provider Note", "ED Physician Documentation")),
                         e.start, c.time(10, 23), e.provider, _body_ed, signed())
        read = _NoteSpec("Radiology Report", e.start, c.time(10, 23), rng.choice(cast.radiologists), _body_imaging,
                         True, study=STUDIES[e.acute.study] if e.acute and e.acute.study else None,
                         abnormal=rng.random() < 0.4)
        options = {1: [main], 2: [triage, main] if read.study is None or rng.random() < 0.5 else [main, read],
                   3: [triage, main, read]}
        return options[e.n_notes]
    if e.cat == "imaging":
        title = rng.choice(("RADIOLOGY REPORT", "Imaging Report", "DIAGNOSTIC REPORT"))
        return [_NoteSpec(title, e.start, c.time(8, 18), rng.choice(cast.radiologists), _body_imaging, True,
                          study=e.study, abnormal=e.abnormal)]
    if e.cat == "lab":
        title = rng.choice(("LAB RESULTS REPORT", "Final Result", "CHEMISTRY/HEMATOLOGY REPORT"))
        return [_NoteSpec(title, e.start, c.time(7, 12), cast.lab_tech, _body_lab, rng.random() < 0.3)]
    if e.cat == "procedure":
        pre = _NoteSpec("Pre-procedure Nursing Note", e.start, c.time(6, 8), rng.choice(cast.nurses),
                        _body_periop_nursing, False)
        op = _NoteSpec(rng.choice(("OPERATIVE REPORT", "Procedure Note", "BRIEF OP NOTE")), e.start, c.time(8, 13),
                       e.provider, _body_op, rng.random() < 0.85, proc=e.proc)
        post = _NoteSpec("Post-Anesthesia Care Note", e.start, c.time(13, 17), rng.choice(cast.nurses),
                         _body_periop_nursing, False)
        return {1: [op], 2: [pre, op] if rng.random() < 0.5 else [op, post], 3: [pre, op, post]}[e.n_notes]
    title = rng.choice((f"{e.specialty.name} Consult Note", "CONSULT NOTE", "Initial Consult"))
    return [_NoteSpec(title, e.start, c.time(8, 16), e.provider, _body_consult, signed(), specialty=e.specialty)]


def _plan_stay(c: _Ctx) -> list[_NoteSpec]:
    """H&P first, discharge summary last, and a sample of the stay's other notes, by day and hour."""
    e, rng, cast = c.enc, c.rng, c.chart.cast
    adm, los = e.admit or ADMITS[0], (e.end - e.start).days
    others = [h for h in cast.hospitalists if h != e.provider]
    day = lambda k: e.start + timedelta(days=k)  # noqa: E731

    def note(k: int, hour: int, title: str, author: str, body: Callable, signed: bool = True, **kw) -> tuple:
        return (k, hour, _NoteSpec(title, day(k), c.clock(hour), author, body, signed, **kw))

    def rank(n: tuple) -> tuple:  # H&P opens the stay, the discharge summary closes it
        body = n[2].body
        return n[0], -1 if body is _body_hp else 99 if body is _body_discharge else n[1]

    hp_author = e.provider if rng.random() < 0.7 else rng.choice(others)
    required = [note(0, rng.randint(16, 22), rng.choice(("HISTORY AND PHYSICAL", "Admission H&P", "H&P")), hp_author,
                     _body_hp, rng.random() < 0.9),
                note(los, rng.randint(9, 14), "DISCHARGE SUMMARY", e.provider, _body_discharge)]
    pool = [note(0, rng.randint(19, 23), "Nursing Admission Note", rng.choice(cast.nurses), _body_nursing_admit,
                 False)]
    if adm.proc:
        proc = PROCS[adm.proc]
        required.append(note(min(1, los), rng.randint(8, 13), "OPERATIVE REPORT", cast.specialist(proc.specialty)[0],
                             _body_op, proc=proc))
    if adm.study:
        pool.append(note(0, rng.randint(14, 23), "Radiology Report", rng.choice(cast.radiologists), _body_imaging,
                         study=STUDIES[adm.study], abnormal=True))
    if adm.consult:
        pool.append(note(min(1, los), rng.randint(10, 16), f"{adm.consult} Consult Note",
                         cast.specialist(adm.consult)[0], _body_consult, specialty=SPECIALTIES[adm.consult]))
    for k in range(1, los):
        author = e.provider if rng.random() < 0.6 else rng.choice(others)
        title = rng.choice((f"Hospital Day {k + 1} Progress Note", "Progress Note", "Daily Progress Note"))
        pool.append(note(k, rng.randint(7, 11), title, author, _body_progress_day, day_no=k + 1))
    for k in range(los + 1):
        for hour in (rng.randint(12, 18), rng.randint(20, 23)):
            pool.append(note(k, hour, rng.choice(("Nursing Shift Note", "Nursing Progress Note")),
                             rng.choice(cast.nurses), _body_nursing_shift, False))
    pool.sort(key=lambda n: (n[2].body is _body_nursing_shift, rng.random()))  # shift notes fill up last
    chosen = required + pool[:max(0, e.n_notes - len(required))]
    chosen.sort(key=rank)
    return [spec for _, _, spec in chosen]


# --------------------------------------------------------------------------------------------
# Clean rendering
# --------------------------------------------------------------------------------------------

def _render_note(c: _Ctx, spec: _NoteSpec, first: bool, budget: int) -> list[_Line]:
    rng, subs = c.rng, c.style.sub_styles
    if first:
        weights = (35, 35, 15, 15) if c.family else (25, 30, 22, 22)
        style = rng.choices(("none", "title", *subs), weights)[0]
    else:
        style = rng.choice(subs)
    lines = _subheader(c, style, spec) + spec.body(c, spec, budget)
    while lines and lines[-1].kind == "blank":
        lines.pop()
    if spec.signed:
        lines += _blank(rng.random() < 0.5) + _signature(c, spec)
    return lines


def _gap(c: _Ctx) -> list[_Line]:
    """Between encounters: 0-4 blank lines, sometimes around a separator rule."""
    rng = c.rng
    n = rng.choices(range(5), (15, 35, 25, 15, 10))[0]
    if rng.random() < 0.2:
        k = rng.randint(0, n)
        return _blank(k) + [_Line([rng.choice(SEPARATORS)], "gap")] + _blank(n - k)
    return _blank(n)


def _render_encounter(c: _Ctx, budget: int) -> _Block:
    rng = c.rng
    header = _header(c)
    for line in header:
        line.kind = "header"
    specs = _plan_notes(c)
    notes = []
    for k, spec in enumerate(specs):
        lines = _render_note(c, spec, k == 0, budget // len(specs))
        if k < len(specs) - 1:
            lines += _blank(rng.choice((0, 1, 1, 1)) if c.enc.cat == "inpatient" else rng.choice((1, 1, 2)))
        notes.append(lines)
    return _Block(c.idx, c.family.id if header else None, header, notes, _gap(c))


def _cover(rng: random.Random, chart: _Chart) -> list[_Line]:
    """Optional records-release cover lines (part of encounter 1's span)."""
    if rng.random() < 0.5:
        return []
    pt = chart.patient
    rows = ("CONFIDENTIAL PATIENT INFORMATION",
            f"Patient: {pt.first} {pt.middle}. {pt.last}    DOB: {fmt_date(pt.dob, 'mdy')}    MRN: {pt.mrn}",
            f"Request date: {fmt_date(chart.print_date, 'mdy')}    Purpose: "
            + rng.choice(("Continuity of care", "Utilization review", "Patient request")))
    return [_Line([r], "cover") for r in rows] + _blank(rng.randint(1, 2))


def _render(rng: random.Random, chart: _Chart, style: _Style) -> tuple[list[_Line], list[_Block]]:
    """Cover lines and the encounter blocks in printed order (newest first when the primary family says so)."""
    prefix = _cover(rng, chart)
    blocks = [_render_encounter(_Ctx(rng, chart, style, i), chart.budgets[i]) for i in range(len(chart.encounters))]
    if style.primary.newest_first:
        blocks.reverse()
    if rng.random() < 0.3:
        blocks[-1].tail.append(_Line(["*** END OF RECORD ***"], "gap"))
    return prefix, blocks


def _flatten(prefix: list[_Line], blocks: list[_Block]) -> list[_Line]:
    """All lines in order, tagged with their encounter; `first` marks each encounter's first line."""
    out = list(prefix)
    for i, block in enumerate(blocks):
        lines = block.header + [line for note in block.notes for line in note] + block.tail
        for line in lines:
            line.enc, line.first = i, False
        lines[0].first = True
        out.extend(lines)
    return out


# --------------------------------------------------------------------------------------------
# Hard variant: edits of the line structure, never of the assembled text
# --------------------------------------------------------------------------------------------

_OCR_RE = re.compile(r"rn|[l1IO0S5em ]")
_OCR_SUBS = {"rn": "m", "l": "1", "1": "l", "I": "l", "O": "0", "0": "O", "S": "5", "5": "S", "e": "c", "m": "rn",
             " ": ""}
_MERGEABLE = ("body", "section")


def _harden(rng: random.Random, chart: _Chart, prefix: list[_Line], blocks: list[_Block],
            furniture: Furniture) -> list[_Line]:
    with_header = [b for b in blocks if b.header]
    for block in rng.sample(with_header, round(rng.uniform(0.4, 0.5) * len(with_header))):
        block.header, block.family = [], None
    for block in blocks:
        i = block.idx
        if i and rng.random() < 0.3:
            _insert_lines(rng, rng.choice(block.notes), _copy_forward(rng, chart.encounters[i - 1]))
        if rng.random() < 0.45:
            for _ in range(rng.randint(1, 2)):
                _false_cue(rng, chart, i, rng.choice(block.notes))
    _ocr_noise(rng, prefix, blocks)
    return _paginate(rng, chart, _flatten(prefix, blocks), furniture)


def _note_end(note: list[_Line]) -> int:
    end = len(note)
    while end > 1 and note[end - 1].kind == "blank":
        end -= 1
    return end


def _insert_lines(rng: random.Random, note: list[_Line], lines: list[_Line]) -> None:
    """Insert before a section label (never as the note's first line), else at the note's end."""
    end = _note_end(note)
    spots = [k for k in range(1, end) if note[k].kind == "section"]
    at = rng.choice(spots) if spots else end
    note[at:at] = lines


def _copy_forward(rng: random.Random, prev: _Encounter) -> list[_Line]:
    """The previous encounter's medication or problem list pasted into this one."""
    when = fmt_date(prev.start, rng.choice(("mdy", "mdy_short", "iso", "dmon")))
    style = rng.choice(MED_STYLES)
    meds = [_ln(m) for m in [_med_line(style, k, m) for k, m in enumerate(prev.meds, 1)] or ["None"]]
    problems = [_ln(f"{p.name} ({p.icd})") for p in prev.problems]
    roll = rng.random()
    if roll < 0.4:
        return [_ln("--- Copied from prior encounter ---"), _ln("Medications:"), *meds, _ln("Problem list:"),
                *problems, _ln("--- End of copied text ---")]
    if roll < 0.7:
        return [_ln(f"Medication list carried forward from {when}:"), *meds]
    return [_ln(f"Problem list (carried forward from {when}):"), *problems]


def _reason(e: _Encounter) -> str:
    """Short lower-case reason for a visit, for false "last seen" cues."""
    if e.admit:
        return e.admit.dx.lower()
    if e.acute:
        return e.acute.complaint
    if e.study:
        return e.study.name.lower()
    if e.proc:
        return e.proc.name.lower()
    if e.specialty:
        return f"{e.specialty.name.lower()} evaluation"
    if e.phone:
        return e.phone[0]
    return "lab work" if e.panels else f"{e.problems[0].name.lower()} follow-up"


def _false_cue(rng: random.Random, chart: _Chart, i: int, note: list[_Line]) -> None:
    """A "last seen on <earlier date>" line, standalone (line start) or appended to a body line."""
    enc = chart.encounters[i]
    prev = chart.encounters[i - 1] if i else None
    when = prev.start if prev and rng.random() < 0.6 else _prior(rng, enc.start)
    cue = rng.choice(FALSE_CUES).format(d=fmt_date(when, rng.choice(NOTE_DATE_STYLES)), why=_reason(prev or enc))
    bodies = [line for line in note[1:] if line.kind == "body" and line.segs]
    if bodies and rng.random() < 0.5:
        rng.choice(bodies).segs.append(f" {cue}")
    else:
        at = rng.randint(1, _note_end(note))
        note[at:at] = [_ln(cue)]


def _ocr_noise(rng: random.Random, prefix: list[_Line], blocks: list[_Block]) -> None:
    """Character confusions on ~1-2% of characters of unprotected text, plus a few line merges in notes."""
    lines = prefix + [ln for b in blocks for ln in b.header] + [ln for b in blocks for n in b.notes for ln in n]
    plain = [s for line in lines for s in line.segs if type(s) is str]
    hits = [h for s in plain for h in _OCR_RE.findall(s)]
    eligible = len(hits) - hits.count(" ") / 2  # spaces are dropped at half the rate
    p = min(1.0, rng.uniform(0.01, 0.02) * sum(map(len, plain)) / max(eligible, 1.0))

    def sub(m: re.Match) -> str:
        hit = m.group()
        return _OCR_SUBS[hit] if rng.random() < (p / 2 if hit == " " else p) else hit

    for line in lines:
        line.segs = [_OCR_RE.sub(sub, s) if type(s) is str else s for s in line.segs]
    merge_p = rng.uniform(0.01, 0.03)
    for block in blocks:
        for note in block.notes:
            for k in range(len(note) - 2, -1, -1):
                a, b = note[k], note[k + 1]
                if a.kind in _MERGEABLE and b.kind in _MERGEABLE and a.segs and b.segs and rng.random() < merge_p:
                    a.segs += ([" "] if rng.random() < 0.5 else []) + b.segs
                    del note[k + 1]


def _split_line(rng: random.Random, line: _Line) -> tuple[_Line, _Line] | None:
    """Split a long body line at a space outside protected segments (a page break mid-line)."""
    if line.kind != "body" or len(line.text) < 40:
        return None
    spots = [(i, j) for i, s in enumerate(line.segs) if type(s) is str for j, ch in enumerate(s) if ch == " "]
    spots = [(i, j) for i, j in spots if 0 < sum(map(len, line.segs[:i])) + j < len(line.text) - 1]
    if not spots:
        return None
    i, j = rng.choice(spots)
    seg = line.segs[i]
    head = _Line([*line.segs[:i], seg[:j]], line.kind, line.enc, line.first)
    tail = _Line([seg[j + 1:], *line.segs[i + 1:]], line.kind, line.enc, False)
    head.segs, tail.segs = [s for s in head.segs if s], [s for s in tail.segs if s]
    return head, tail


def _paginate(rng: random.Random, chart: _Chart, lines: list[_Line], furniture: Furniture) -> list[_Line]:
    """Cut every 2,500-3,500 characters (sometimes mid-line) and print the furniture's lines on every page."""
    pt = chart.patient
    slots = {"last": pt.last, "first": pt.first, "mi": pt.middle, "LAST": pt.last.upper(), "FIRST": pt.first.upper(),
             "mrn": pt.mrn, "dob": fmt_date(pt.dob, furniture.date_style),
             "printed": fmt_date(chart.print_date, furniture.date_style),
             "at": f"{rng.randint(7, 18):02d}:{rng.randrange(60):02d}", "vendor": rng.choice(ROI_VENDORS),
             "phone": _phone_number(rng)}
    pad_top, pad_bottom = rng.randint(0, 1), rng.randint(0, 2)
    pages: list[list[_Line]] = [[]]
    size, target = 0, rng.randint(2500, 3500)
    for line in lines:
        if pages[-1] and size + len(line.text) + 1 > target:
            halves = _split_line(rng, line) if rng.random() < 0.3 else None
            if halves:
                pages[-1].append(halves[0])
                line = halves[1]
            pages.append([])
            size, target = 0, rng.randint(2500, 3500)
        pages[-1].append(line)
        size += len(line.text) + 1
    out: list[_Line] = []
    m = len(pages)
    for k, page in enumerate(pages, 1):
        top, bottom = ([_Line([t.format_map({**slots, "k": k, "m": m})], "page") for t in templates]
                       for templates in (furniture.top, furniture.bottom))
        out += top + _blank(pad_top) + page + _blank(pad_bottom) + bottom
    return out


# --------------------------------------------------------------------------------------------
# Assembly and public API
# --------------------------------------------------------------------------------------------

def _assemble(lines: list[_Line], blocks: list[_Block]) -> tuple[str, list[dict]]:
    """Text plus tiled encounter spans, the fields printed inside each span and the header's family."""
    starts, found, chunks, pos = [0] * len(blocks), {}, [], 0
    for line in lines:
        if line.first and line.enc:
            starts[line.enc] = pos
        text = line.text
        chunks.append(text + "\n")
        pos += len(text) + 1
        for seg in line.segs:
            if isinstance(seg, _Field):
                found.setdefault((line.enc, seg.name), seg.value)
    text = "".join(chunks)
    ends = starts[1:] + [len(text)]
    return text, [{"start": starts[i], "end": ends[i],
                   **{name: found.get((i, name)) for name in ("date", "type", "provider", "facility")},
                   "notes": len(block.notes), "family": block.family} for i, block in enumerate(blocks)]


def select_families(ids: Iterable[str] | None = None, groups: Iterable[int] | None = None,
                    exclude_groups: Iterable[int] = ()) -> tuple[str, ...]:
    """Family ids for generate_record / generate_corpus, in catalogue order: the named families plus the
    families of the named groups (every family when neither is given), less those of `exclude_groups`.

    Groups 0-5 are the grammar's layout clusters (GROUPS names them), 6 the legacy formats. For a
    leave-family-out split, train on exclude_groups=[g] and measure on groups=[g].
    """
    if isinstance(ids, str):
        raise ValueError("ids must be a collection of family ids, not one string")
    named, wanted, excluded = set(ids or ()), set(groups or ()), set(exclude_groups)
    unknown = sorted(named - set(FAMILY_BY_ID))
    if unknown:
        raise ValueError(f"unknown family id(s) {', '.join(unknown)}; `chartsift synth --list-families` lists them")
    bad = sorted((wanted | excluded) - set(GROUPS))
    if bad:
        raise ValueError(f"unknown group(s) {bad}; groups are {sorted(GROUPS)}")
    everything = ids is None and groups is None
    chosen = tuple(f.id for f in FAMILIES
                   if (everything or f.id in named or f.group in wanted) and f.group not in excluded)
    if all(FAMILY_BY_ID[fid].categories for fid in chosen):
        raise ValueError("the selection leaves no family that can head any encounter")
    return chosen


def family_example(family_id: str) -> list[str]:
    """The header lines a family prints for an invented encounter (a stay, or for a family limited to
    some categories the first encounter of those), from a fixed seed, blank lines left out: for listings
    and docs."""
    family = FAMILY_BY_ID[family_id]
    for seed in range(1, 100):
        rng = random.Random(seed)
        chart = _build_chart(rng, "small")
        fits = [i for i, e in enumerate(chart.encounters) if e.cat in (family.categories or ("inpatient",))]
        if fits:
            style = _draw_style(rng, chart, FAMILIES)
            style.families[fits[0]] = family
            return [line.text for line in _header(_Ctx(rng, chart, style, fits[0])) if line.text]
    raise AssertionError(f"no invented chart has an encounter {family_id} can head")


def generate_record(rng: random.Random, base_id: str, variant: str, size_hint: str = "medium",
                    families: Iterable[str] | None = None) -> tuple[str, dict]:
    """One record's text and its gold dict (without writing).

    variant is "clean" or "hard"; size_hint small|medium|large (~5-15 KB, 30-80 KB, 200-600 KB); families
    the ids the record may draw its header families from (None: all; see select_families). The clean
    rendering consumes `rng` identically for both variants, so two generators seeded alike give a hard
    record that is exactly the clean one plus the hard edits. Gold adds to the corpus format the
    record's primary "family", all "families" it drew, the primary's "group", and per encounter the
    "family" that printed its header (null when it has none).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} for one record; expected one of {VARIANTS}")
    if size_hint not in SIZES:
        raise ValueError(f"unknown size_hint {size_hint!r}; expected one of {tuple(SIZES)}")
    allowed = FAMILIES if families is None else tuple(FAMILY_BY_ID[fid] for fid in select_families(families))
    chart = _build_chart(rng, size_hint)
    style = _draw_style(rng, chart, allowed)
    prefix, blocks = _render(rng, chart, style)
    if variant == "hard":
        lines = _harden(rng, chart, prefix, blocks, rng.choice(style.primary.furniture))
    else:
        lines = _flatten(prefix, blocks)
    text, encounters = _assemble(lines, blocks)
    return text, {"record": f"{base_id}_{variant}.txt", "source": "synth", "variant": variant, "base": base_id,
                  "family": style.primary.id, "families": list(style.used), "group": style.primary.group,
                  "encounters": encounters}


def _corpus_size(base: int, records: int) -> str:
    """Sizes cycle deterministically: small/medium up to 20 records, with every 10th base large beyond."""
    if records <= 20:
        return ("small", "medium")[base % 2]
    return ("small", "medium", "medium", "small", "medium", "large", "small", "medium", "medium", "small")[base % 10]


def generate_corpus(out_dir: str | Path, records: int, seed: int, variant: str = "clean",
                    families: Iterable[str] | None = None) -> list[dict]:
    """Writes out_dir/records/*.txt and out_dir/gold.jsonl; returns the gold dicts.

    variant in {"clean","hard","mixed"}; "mixed" alternates clean and hard renderings of the same base
    records (2 files per base; an odd count ends with a clean file). families: the family ids records
    draw from (None: all; see select_families); the seed alone fixes each base's chart, so corpora of
    different family sets share patients. Existing files are overwritten, others kept.
    """
    if isinstance(records, bool) or not isinstance(records, int) or records < 1:
        raise ValueError(f"records must be a positive integer, got {records!r}")
    if variant not in (*VARIANTS, "mixed"):
        raise ValueError(f"unknown variant {variant!r}; expected 'clean', 'hard' or 'mixed'")
    if families is not None:
        families = select_families(families)
    master = random.Random(seed)
    n_bases = (records + 1) // 2 if variant == "mixed" else records
    seeds = [master.getrandbits(64) for _ in range(n_bases)]
    out = Path(out_dir)
    (out / "records").mkdir(parents=True, exist_ok=True)
    golds = []
    for i in range(records):
        base, var = (i // 2, VARIANTS[i % 2]) if variant == "mixed" else (i, variant)
        text, gold = generate_record(random.Random(seeds[base]), f"synth_{base + 1:04d}", var,
                                     _corpus_size(base, records), families)
        (out / "records" / gold["record"]).write_bytes(text.encode("utf-8"))
        golds.append(gold)
    (out / "gold.jsonl").write_text("".join(json.dumps(g, ensure_ascii=False) + "\n" for g in golds),
                                    encoding="utf-8", newline="\n")
    return golds
